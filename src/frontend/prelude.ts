// Built-ins written in the language itself: composites of primitive operators, so the IR,
// the interpreter and every backend get them for free.
export const PRELUDE_FILE = "<prelude>";
export const PRELUDE = `
block l2_normalize(x: tensor, axis: int = -1, eps: float = 1e-12) {
  return x / maximum(sqrt(sum(x * x, axis, keepdim=true)), eps)
}

# Euclidean distance over the last axis: [..., D] x [..., D] -> [...].
block euclidean_distance(a: tensor, b: tensor) {
  assert shape(a) == shape(b), "euclidean_distance: the embeddings have different shapes " + str(shape(a)) + " and " + str(shape(b))
  d = a - b
  return sqrt(sum(d * d, -1))
}

# Hadsell et al. 2006, label 0 = similar, 1 = dissimilar; mean over the batch.
block contrastive_loss(a: tensor, b: tensor, label: tensor, margin: float = 1.0) {
  d = euclidean_distance(a, b)
  assert shape(label) == shape(d), "contrastive_loss: label has shape " + str(shape(label)) + " but there are " + str(shape(d)) + " distances"
  pull = (1.0 - label) * d * d / 2.0
  push = label * relu(margin - d) ** 2.0 / 2.0
  return mean(pull + push, 0)
}

# Schroff et al. 2015: mean of max(0, d(a, p) - d(a, n) + margin).
block triplet_loss(anchor: tensor, positive: tensor, negative: tensor, margin: float = 1.0) {
  return mean(relu(euclidean_distance(anchor, positive) - euclidean_distance(anchor, negative) + margin), 0)
}
`;
