// Small models the training tests share.
import { join } from "node:path";
import { elaborate } from "../../src/driver.js";
import type { Graph } from "../../src/ir/graph.js";
import { root } from "../support/cli.js";

/** A one-layer BERT with a 3-way classification head and a cross-entropy loss (batch 2, seq 5). */
export function bertClassifier(): Graph {
  return elaborate({ path: join(root, "specs/bert_classifier.nn"), text: BERT_CLASSIFIER }).graph;
}

/** Its source (in specs/, for the import): dropout after the embeddings, in attention, after the attention and feed-forward outputs and before the classifier. */
export const BERT_CLASSIFIER = `import "lib/bert.nn"
model bert_classifier() {
  input input_ids: i32[2, 5]
  input token_type_ids: i32[2, 5]
  input attention_mask: i32[2, 5]
  input target: f32[2, 3]
  hidden, pooled = bert: bert_model(input_ids, token_type_ids, attention_mask, hidden=16, layers=1, heads=2, intermediate_size=32, vocab=40, max_positions=8)
  logits = classifier: linear(dropout(pooled), 3)
  output logits = logits
  output loss = mean(sum(target * log(softmax(logits, axis=-1)), [1]), [0]) * -1.0
}`;
