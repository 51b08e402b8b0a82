// The model zoo (specs/*.nn): every model elaborates without diagnostics and matches the
// reference implementation it names (torchvision, timm, Hugging Face) in trainable parameter
// count (exact), MACs (within 1% of the published figure), checkpoint weight names and shapes,
// and its input/output signature.
import { describe, it, expect } from "vitest";
import { elaborateFile } from "../src/frontend/index.js";
import { interpret } from "../src/interp/index.js";
import { modelStats } from "../src/ir/stats.js";
import type { Graph, Node } from "../src/ir/graph.js";

type Shape = number[];
interface Port {
  name: string;
  dtype: string;
  shape: Shape;
}
interface ZooEntry {
  file: string;
  /** Exact trainable parameter count of the reference implementation. */
  params: number;
  /** Published MACs (conv/linear/matmul multiply-accumulates), checked within 1%. */
  macs?: number;
  /** Where the published figure comes from. */
  source: string;
  /** Checkpoint keys and shapes that must exist (buffers included). */
  weights: Record<string, Shape>;
  /** Checkpoint keys that must not exist. */
  absent?: string[];
  inputs: Port[];
  outputs: Port[];
  /** Exact node counts of some IR ops (architecture fingerprint). */
  ops?: Record<string, number>;
  /** The eps of every batchnorm / layernorm node. */
  eps?: number;
  /** Further architecture checks on the graph. */
  check?: (g: Graph) => void;
}

/** The nodes of `op` created under the label path `path`. */
function nodesAt(g: Graph, op: string, path: string) {
  return g.nodes.filter((n) => n.op === op && n.path === path);
}

/** The data of `value`, which must be computed from constants alone (e.g. position ids). */
function constantValue(g: Graph, value: number): number[] {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const needed = new Set<Node>();
  const visit = (v: number): void => {
    const producer = byId.get(g.values[v]!.producer ?? -1);
    if (producer && !needed.has(producer)) {
      needed.add(producer);
      producer.inputs.forEach(visit);
    }
  };
  visit(value);
  const sub: Graph = { ...g, nodes: g.nodes.filter((n) => needed.has(n)), inputs: [], weights: [], outputs: [{ name: "v", value }] };
  return [...(interpret(sub, new Map(), {}).v as Int32Array)];
}

/** The ids an embedding (a gather labelled `path`) looks up. */
const embeddingIds = (g: Graph, path: string) => constantValue(g, nodesAt(g, "gather", path)[0]!.inputs[1]!);

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const exactGelu = (g: Graph) => {
  for (const n of g.nodes.filter((n) => n.op === "gelu")) expect(n.attrs.approximate).toBe("none");
};

/** torchvision's MobileNetV3 backbone normalises with eps 1e-3, the segmentation heads with BatchNorm2d's default 1e-5. */
const mobilenetBackboneEps = (g: Graph) => {
  for (const n of g.nodes.filter((n) => n.op === "batchnorm")) expect(n.attrs.eps, n.path).toBe(n.path.startsWith("backbone.") ? 1e-3 : 1e-5);
};

const image = (n = 224): Port => ({ name: "image", dtype: "f32", shape: [1, 3, n, n] });
const logits = (classes = 1000): Port => ({ name: "logits", dtype: "f32", shape: [1, classes] });
const ids = (name: string, seq = 128): Port => ({ name, dtype: "i32", shape: [1, seq] });
const G = 1e9;
const M = 1e6;

const zoo: Record<string, ZooEntry> = {
  resnet18: {
    file: "specs/resnet18.nn",
    params: 11_689_512,
    macs: 1.814 * G,
    source: "torchvision ResNet18_Weights: 1.81 GFLOPS (MACs)",
    weights: {
      "conv1.weight": [64, 3, 7, 7],
      "bn1.weight": [64],
      "bn1.running_var": [64],
      "bn1.num_batches_tracked": [],
      "layer1.0.conv1.weight": [64, 64, 3, 3],
      "layer1.1.bn2.running_mean": [64],
      "layer2.0.conv1.weight": [128, 64, 3, 3],
      "layer2.0.downsample.0.weight": [128, 64, 1, 1],
      "layer2.0.downsample.1.running_var": [128],
      "layer4.1.conv2.weight": [512, 512, 3, 3],
      "fc.weight": [1000, 512],
      "fc.bias": [1000],
    },
    absent: ["layer1.0.downsample.0.weight", "layer1.2.conv1.weight", "layer1.0.conv3.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 20, batchnorm: 20, relu: 17, add: 8, maxpool: 1, linear: 1 },
    eps: 1e-5,
  },
  resnet34: {
    file: "specs/resnet34.nn",
    params: 21_797_672,
    macs: 3.664 * G,
    source: "torchvision ResNet34_Weights: 3.66 GFLOPS (MACs)",
    weights: {
      "conv1.weight": [64, 3, 7, 7],
      "layer3.5.conv2.weight": [256, 256, 3, 3],
      "layer3.0.downsample.0.weight": [256, 128, 1, 1],
      "layer4.2.bn2.num_batches_tracked": [],
      "fc.weight": [1000, 512],
    },
    absent: ["layer3.6.conv1.weight", "layer1.0.downsample.0.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 36, add: 16 },
    eps: 1e-5,
  },
  resnet50: {
    file: "specs/resnet50.nn",
    params: 25_557_032,
    macs: 4.089 * G,
    source: "torchvision ResNet50_Weights: 4.09 GFLOPS (MACs)",
    weights: {
      "conv1.weight": [64, 3, 7, 7],
      "bn1.running_mean": [64],
      "layer1.0.conv1.weight": [64, 64, 1, 1],
      "layer1.0.conv2.weight": [64, 64, 3, 3],
      "layer1.0.conv3.weight": [256, 64, 1, 1],
      "layer1.0.downsample.0.weight": [256, 64, 1, 1],
      "layer1.0.downsample.1.running_var": [256],
      "layer1.0.downsample.1.num_batches_tracked": [],
      "layer2.0.conv2.weight": [128, 128, 3, 3],
      "layer3.5.conv3.weight": [1024, 256, 1, 1],
      "layer4.2.bn3.weight": [2048],
      "fc.weight": [1000, 2048],
      "fc.bias": [1000],
    },
    absent: ["layer1.1.downsample.0.weight", "layer3.6.conv1.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 53, batchnorm: 53, relu: 49, add: 16, maxpool: 1, linear: 1 },
    eps: 1e-5,
  },
  resnet101: {
    file: "specs/resnet101.nn",
    params: 44_549_160,
    macs: 7.801 * G,
    source: "torchvision ResNet101_Weights: 7.80 GFLOPS (MACs)",
    weights: {
      "layer3.22.conv2.weight": [256, 256, 3, 3],
      "layer3.22.bn3.running_var": [1024],
      "layer4.0.downsample.0.weight": [2048, 1024, 1, 1],
      "fc.weight": [1000, 2048],
    },
    absent: ["layer3.23.conv1.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 104, add: 33 },
    eps: 1e-5,
  },
  resnet152: {
    file: "specs/resnet152.nn",
    params: 60_192_808,
    macs: 11.514 * G,
    source: "torchvision ResNet152_Weights: 11.51 GFLOPS (MACs)",
    weights: {
      "layer2.7.conv1.weight": [128, 512, 1, 1],
      "layer3.35.conv3.weight": [1024, 256, 1, 1],
      "layer3.35.bn3.num_batches_tracked": [],
      "fc.weight": [1000, 2048],
    },
    absent: ["layer2.8.conv1.weight", "layer3.36.conv1.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 155, add: 50 },
    eps: 1e-5,
  },
  resnext50_32x4d: {
    file: "specs/resnext50_32x4d.nn",
    params: 25_028_904,
    macs: 4.23 * G,
    source: "torchvision ResNeXt50_32X4D_Weights: 4.23 GFLOPS (MACs)",
    weights: {
      "layer1.0.conv1.weight": [128, 64, 1, 1],
      "layer1.0.conv2.weight": [128, 4, 3, 3],
      "layer1.0.conv3.weight": [256, 128, 1, 1],
      "layer4.0.conv2.weight": [1024, 32, 3, 3],
      "layer4.2.conv3.weight": [2048, 1024, 1, 1],
      "layer4.0.downsample.1.running_mean": [2048],
      "fc.weight": [1000, 2048],
    },
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 53, add: 16 },
    eps: 1e-5,
  },
  wide_resnet50_2: {
    file: "specs/wide_resnet50_2.nn",
    params: 68_883_240,
    macs: 11.398 * G,
    source: "torchvision Wide_ResNet50_2_Weights: 11.40 GFLOPS (MACs)",
    weights: {
      "layer1.0.conv1.weight": [128, 64, 1, 1],
      "layer1.0.conv2.weight": [128, 128, 3, 3],
      "layer1.0.conv3.weight": [256, 128, 1, 1],
      "layer4.0.conv1.weight": [1024, 1024, 1, 1],
      "layer4.2.conv3.weight": [2048, 1024, 1, 1],
      "fc.weight": [1000, 2048],
    },
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 53, add: 16 },
    eps: 1e-5,
  },
  resnet50d: {
    file: "specs/resnet50d.nn",
    params: 25_576_264,
    macs: 4.35 * G,
    source: "timm resnet50d: 25.58M params, 4.35 GMACs",
    weights: {
      "conv1.0.weight": [32, 3, 3, 3],
      "conv1.1.weight": [32],
      "conv1.1.running_var": [32],
      "conv1.3.weight": [32, 32, 3, 3],
      "conv1.4.num_batches_tracked": [],
      "conv1.6.weight": [64, 32, 3, 3],
      "bn1.weight": [64],
      "layer1.0.conv1.weight": [64, 64, 1, 1],
      "layer1.0.downsample.1.weight": [256, 64, 1, 1],
      "layer1.0.downsample.2.running_var": [256],
      "layer2.0.downsample.1.weight": [512, 256, 1, 1],
      "layer4.0.downsample.2.weight": [2048],
      "fc.weight": [1000, 2048],
    },
    absent: ["conv1.weight", "conv1.2.weight", "layer1.0.downsample.0.weight", "layer2.0.downsample.0.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 55, batchnorm: 55, relu: 51, add: 16, avgpool: 3, maxpool: 1 },
    eps: 1e-5,
    check: (g) => {
      // ResNet-D shortcut: a 2x2 ceil-mode average pool without padding counted, only where strided
      const pools = g.nodes.filter((n) => n.op === "avgpool");
      expect(pools.map((n) => n.path)).toEqual(["layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"]);
      for (const p of pools) expect(p.attrs).toMatchObject({ kernel: [2, 2], stride: [2, 2], ceil_mode: true, count_include_pad: false });
    },
  },
  mobilenet_v1: {
    file: "specs/mobilenet_v1.nn",
    params: 4_231_976,
    macs: 569 * M,
    source: "Howard et al. 2017, Table 8: 1.0 MobileNet-224, 569M mult-adds, 4.2M params",
    weights: {
      "features.0.0.weight": [32, 3, 3, 3],
      "features.0.1.running_var": [32],
      "features.1.dw.0.weight": [32, 1, 3, 3],
      "features.1.dw.1.weight": [32],
      "features.1.pw.0.weight": [64, 32, 1, 1],
      "features.1.pw.1.num_batches_tracked": [],
      "features.12.dw.0.weight": [512, 1, 3, 3],
      "features.13.pw.0.weight": [1024, 1024, 1, 1],
      "features.13.pw.1.running_mean": [1024],
      "fc.weight": [1000, 1024],
      "fc.bias": [1000],
    },
    absent: ["features.14.dw.0.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 27, batchnorm: 27, relu: 27, linear: 1 },
    eps: 1e-5,
  },
  mobilenet_v2: {
    file: "specs/mobilenet_v2.nn",
    params: 3_504_872,
    macs: 0.301 * G,
    source: "torchvision MobileNet_V2_Weights: 0.30 GFLOPS (MACs), 300.8M",
    weights: {
      "features.0.0.weight": [32, 3, 3, 3],
      "features.0.1.running_var": [32],
      "features.1.conv.0.0.weight": [32, 1, 3, 3],
      "features.1.conv.0.1.weight": [32],
      "features.1.conv.1.weight": [16, 32, 1, 1],
      "features.1.conv.2.running_mean": [16],
      "features.2.conv.0.0.weight": [96, 16, 1, 1],
      "features.2.conv.1.0.weight": [96, 1, 3, 3],
      "features.2.conv.2.weight": [24, 96, 1, 1],
      "features.2.conv.3.num_batches_tracked": [],
      "features.3.conv.1.0.weight": [144, 1, 3, 3],
      "features.17.conv.2.weight": [320, 960, 1, 1],
      "features.18.0.weight": [1280, 320, 1, 1],
      "features.18.1.running_var": [1280],
      "classifier.1.weight": [1000, 1280],
      "classifier.1.bias": [1000],
    },
    absent: ["features.1.conv.3.weight", "features.19.0.weight", "classifier.0.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 52, batchnorm: 52, relu6: 35, add: 10, linear: 1 },
    eps: 1e-5,
  },
  mobilenet_v3_large: {
    file: "specs/mobilenet_v3_large.nn",
    params: 5_483_032,
    macs: 0.217 * G,
    source: "torchvision MobileNet_V3_Large_Weights: 0.22 GFLOPS (MACs), 216.6M",
    weights: {
      "features.0.0.weight": [16, 3, 3, 3],
      "features.0.1.running_var": [16],
      "features.1.block.0.0.weight": [16, 1, 3, 3],
      "features.1.block.1.0.weight": [16, 16, 1, 1],
      "features.2.block.0.0.weight": [64, 16, 1, 1],
      "features.2.block.1.0.weight": [64, 1, 3, 3],
      "features.4.block.1.0.weight": [72, 1, 5, 5],
      "features.4.block.2.fc1.weight": [24, 72, 1, 1],
      "features.4.block.2.fc1.bias": [24],
      "features.4.block.2.fc2.weight": [72, 24, 1, 1],
      "features.4.block.2.fc2.bias": [72],
      "features.4.block.3.0.weight": [40, 72, 1, 1],
      "features.4.block.3.1.num_batches_tracked": [],
      "features.15.block.2.fc1.weight": [240, 960, 1, 1],
      "features.16.0.weight": [960, 160, 1, 1],
      "features.16.1.running_var": [960],
      "classifier.0.weight": [1280, 960],
      "classifier.3.weight": [1000, 1280],
      "classifier.3.bias": [1000],
    },
    absent: ["features.1.block.2.0.weight", "features.17.0.weight", "features.7.block.2.fc1.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 62, batchnorm: 46, hard_swish: 21, relu: 19, hard_sigmoid: 8, add: 10, linear: 2 },
    eps: 0.001,
    check: (g) => {
      // relu in the first six bnecks, hard swish after; SE uses relu + hard sigmoid
      expect(nodesAt(g, "relu", "features.1.block.0")).toHaveLength(1);
      expect(nodesAt(g, "relu", "features.6.block.1")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.7.block.0")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.15.block.1")).toHaveLength(1);
      expect(nodesAt(g, "hard_sigmoid", "features.4.block.2")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.0")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.16")).toHaveLength(1);
    },
  },
  mobilenet_v3_small: {
    file: "specs/mobilenet_v3_small.nn",
    params: 2_542_856,
    macs: 0.057 * G,
    source: "torchvision MobileNet_V3_Small_Weights: 0.06 GFLOPS (MACs), 56.5M",
    weights: {
      "features.0.0.weight": [16, 3, 3, 3],
      "features.1.block.0.0.weight": [16, 1, 3, 3],
      "features.1.block.1.fc1.weight": [8, 16, 1, 1],
      "features.1.block.1.fc2.weight": [16, 8, 1, 1],
      "features.1.block.2.0.weight": [16, 16, 1, 1],
      "features.2.block.0.0.weight": [72, 16, 1, 1],
      "features.4.block.2.fc1.weight": [24, 96, 1, 1],
      "features.7.block.2.fc1.weight": [32, 120, 1, 1],
      "features.8.block.2.fc1.weight": [40, 144, 1, 1],
      "features.12.0.weight": [576, 96, 1, 1],
      "features.12.1.running_mean": [576],
      "classifier.0.weight": [1024, 576],
      "classifier.3.weight": [1000, 1024],
    },
    absent: ["features.13.0.weight", "features.2.block.2.fc1.weight"],
    inputs: [image()],
    outputs: [logits()],
    ops: { conv2d: 52, batchnorm: 34, hard_swish: 19, relu: 14, hard_sigmoid: 9, add: 6, linear: 2 },
    eps: 0.001,
    check: (g) => {
      expect(nodesAt(g, "relu", "features.1.block.0")).toHaveLength(1);
      expect(nodesAt(g, "hard_sigmoid", "features.1.block.1")).toHaveLength(1);
      expect(nodesAt(g, "relu", "features.3.block.1")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.4.block.0")).toHaveLength(1);
      expect(nodesAt(g, "hard_swish", "features.12")).toHaveLength(1);
    },
  },
  deeplabv3_resnet50: {
    file: "specs/deeplabv3_resnet50.nn",
    params: 42_004_074,
    macs: 178.722 * G,
    source: "torchvision DeepLabV3_ResNet50_Weights: 178.72 GFLOPS (MACs) at 520x520; 42,004,074 params with aux_classifier",
    weights: {
      "backbone.conv1.weight": [64, 3, 7, 7],
      "backbone.layer3.0.downsample.0.weight": [1024, 512, 1, 1],
      "backbone.layer4.2.conv2.weight": [512, 512, 3, 3],
      "classifier.0.convs.0.0.weight": [256, 2048, 1, 1],
      "classifier.0.convs.1.0.weight": [256, 2048, 3, 3],
      "classifier.0.convs.3.1.running_var": [256],
      "classifier.0.convs.4.1.weight": [256, 2048, 1, 1],
      "classifier.0.convs.4.2.num_batches_tracked": [],
      "classifier.0.project.0.weight": [256, 1280, 1, 1],
      "classifier.0.project.1.weight": [256],
      "classifier.1.weight": [256, 256, 3, 3],
      "classifier.2.running_mean": [256],
      "classifier.4.weight": [21, 256, 1, 1],
      "classifier.4.bias": [21],
      "aux_classifier.0.weight": [256, 1024, 3, 3],
      "aux_classifier.1.weight": [256],
      "aux_classifier.4.weight": [21, 256, 1, 1],
      "aux_classifier.4.bias": [21],
    },
    absent: ["fc.weight", "backbone.fc.weight", "classifier.0.convs.5.0.weight", "classifier.0.convs.1.0.bias"],
    inputs: [image(520)],
    outputs: [{ name: "out", dtype: "f32", shape: [1, 21, 520, 520] }, { name: "aux", dtype: "f32", shape: [1, 21, 520, 520] }],
    ops: { conv2d: 53 + 6 + 2 + 2, resize: 3, global_avgpool: 1, concat: 1, maxpool: 1, linear: 0 },
    eps: 1e-5,
    check: (g) => {
      const conv = (path: string) => nodesAt(g, "conv2d", path)[0]!.attrs;
      // replace_stride_with_dilation=[False, True, True]: layer3 and layer4 keep stride 8, the
      // first block of each at the previous dilation.
      expect(conv("backbone.layer2.0.conv2")).toMatchObject({ stride: [2, 2], dilation: [1, 1] });
      expect(conv("backbone.layer3.0.conv2")).toMatchObject({ stride: [1, 1], dilation: [1, 1], pads: [1, 1, 1, 1] });
      expect(conv("backbone.layer3.1.conv2")).toMatchObject({ dilation: [2, 2], pads: [2, 2, 2, 2] });
      expect(conv("backbone.layer4.0.conv2")).toMatchObject({ stride: [1, 1], dilation: [2, 2] });
      expect(conv("backbone.layer4.0.downsample.0")).toMatchObject({ stride: [1, 1] });
      expect(conv("backbone.layer4.2.conv2")).toMatchObject({ dilation: [4, 4], pads: [4, 4, 4, 4] });
      for (const [i, rate] of [[1, 12], [2, 24], [3, 36]]) expect(conv(`classifier.0.convs.${i}.0`)).toMatchObject({ dilation: [rate, rate], pads: [rate, rate, rate, rate] });
      for (const n of g.nodes.filter((n) => n.op === "resize")) expect(n.attrs).toMatchObject({ mode: "linear", coordinate: "half_pixel" });
      // The ASPP pooling branch upsamples 1x1 to layer4's 65x65 (stride 8).
      expect(nodesAt(g, "resize", "classifier.0.convs.4").map((n) => g.values[n.outputs[0]!]!.type.shape)).toEqual([[1, 256, 65, 65]]);
    },
  },
  deeplabv3_mobilenet_v3_large: {
    file: "specs/deeplabv3_mobilenet_v3_large.nn",
    params: 11_029_328,
    macs: 10.452 * G,
    source: "torchvision DeepLabV3_MobileNet_V3_Large_Weights: 10.45 GFLOPS (MACs) at 520x520; 11,029,328 params with aux_classifier",
    weights: {
      "backbone.0.0.weight": [16, 3, 3, 3],
      "backbone.4.block.3.0.weight": [40, 72, 1, 1],
      "backbone.13.block.1.0.weight": [672, 1, 5, 5],
      "backbone.16.0.weight": [960, 160, 1, 1],
      "backbone.16.1.running_var": [960],
      "classifier.0.convs.0.0.weight": [256, 960, 1, 1],
      "classifier.0.convs.2.0.weight": [256, 960, 3, 3],
      "classifier.0.convs.4.1.weight": [256, 960, 1, 1],
      "classifier.0.project.0.weight": [256, 1280, 1, 1],
      "classifier.4.bias": [21],
      "aux_classifier.0.weight": [10, 40, 3, 3],
      "aux_classifier.4.weight": [21, 10, 1, 1],
    },
    absent: ["features.0.0.weight", "backbone.17.0.weight", "classifier.3.weight"],
    inputs: [image(520)],
    outputs: [{ name: "out", dtype: "f32", shape: [1, 21, 520, 520] }, { name: "aux", dtype: "f32", shape: [1, 21, 520, 520] }],
    ops: { resize: 3, linear: 0 },
    check: (g) => {
      mobilenetBackboneEps(g);
      const conv = (path: string) => nodesAt(g, "conv2d", path)[0]!.attrs;
      // dilated=True: the last stage (backbone.13..15) runs unstrided at dilation 2 (output stride 16).
      expect(conv("backbone.7.block.1.0")).toMatchObject({ stride: [2, 2], dilation: [1, 1] });
      expect(conv("backbone.13.block.1.0")).toMatchObject({ stride: [1, 1], dilation: [2, 2], pads: [4, 4, 4, 4] });
      expect(conv("backbone.15.block.1.0")).toMatchObject({ stride: [1, 1], dilation: [2, 2] });
      expect(g.values[nodesAt(g, "conv2d", "backbone.16.0")[0]!.outputs[0]!]!.type.shape).toEqual([1, 960, 33, 33]);
      expect(g.values[nodesAt(g, "conv2d", "aux_classifier.0")[0]!.inputs[0]!]!.type.shape).toEqual([1, 40, 65, 65]);
    },
  },
  lraspp_mobilenet_v3_large: {
    file: "specs/lraspp_mobilenet_v3_large.nn",
    params: 3_221_538,
    macs: 2.086 * G,
    source: "torchvision LRASPP_MobileNet_V3_Large_Weights: 2.09 GFLOPS (MACs) at 520x520; 3,221,538 params",
    weights: {
      "backbone.0.0.weight": [16, 3, 3, 3],
      "backbone.16.0.weight": [960, 160, 1, 1],
      "classifier.cbr.0.weight": [128, 960, 1, 1],
      "classifier.cbr.1.running_mean": [128],
      "classifier.scale.1.weight": [128, 960, 1, 1],
      "classifier.low_classifier.weight": [21, 40, 1, 1],
      "classifier.low_classifier.bias": [21],
      "classifier.high_classifier.weight": [21, 128, 1, 1],
      "classifier.high_classifier.bias": [21],
    },
    absent: ["classifier.scale.1.bias", "classifier.cbr.0.bias", "aux_classifier.0.weight"],
    inputs: [image(520)],
    outputs: [{ name: "out", dtype: "f32", shape: [1, 21, 520, 520] }],
    ops: { resize: 2, sigmoid: 1, linear: 0 },
    check: (g) => {
      mobilenetBackboneEps(g);
      // The gated high-level features (33x33, stride 16) upsample to the low-level ones (65x65, stride 8).
      expect(nodesAt(g, "resize", "classifier").map((n) => g.values[n.outputs[0]!]!.type.shape)).toEqual([[1, 128, 65, 65]]);
    },
  },
  bert_base: {
    file: "specs/bert_base.nn",
    params: 109_482_240,
    // 12 x (4·768² + 2·768·3072)·128 linear + 12 x 2·128²·768 attention matmuls + pooler
    macs: 11_174_215_680,
    source: "Hugging Face bert-base-uncased BertModel; MACs analytic at seq 128",
    weights: {
      "embeddings.word_embeddings.weight": [30522, 768],
      "embeddings.position_embeddings.weight": [512, 768],
      "embeddings.token_type_embeddings.weight": [2, 768],
      "embeddings.LayerNorm.weight": [768],
      "embeddings.LayerNorm.bias": [768],
      "encoder.layer.0.attention.self.query.weight": [768, 768],
      "encoder.layer.0.attention.self.key.bias": [768],
      "encoder.layer.0.attention.self.value.weight": [768, 768],
      "encoder.layer.0.attention.output.dense.weight": [768, 768],
      "encoder.layer.0.attention.output.LayerNorm.weight": [768],
      "encoder.layer.0.intermediate.dense.weight": [3072, 768],
      "encoder.layer.0.output.dense.weight": [768, 3072],
      "encoder.layer.0.output.LayerNorm.weight": [768],
      "encoder.layer.11.output.LayerNorm.bias": [768],
      "pooler.dense.weight": [768, 768],
      "pooler.dense.bias": [768],
    },
    absent: ["encoder.layer.12.attention.self.query.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [
      { name: "last_hidden_state", dtype: "f32", shape: [1, 128, 768] },
      { name: "pooler_output", dtype: "f32", shape: [1, 768] },
    ],
    ops: { gather: 3, linear: 73, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 1 },
    eps: 1e-12,
    check: exactGelu,
  },
  bert_pretraining: {
    file: "specs/bert_pretraining.nn",
    params: 110_106_428,
    // bert_base + transform dense (768²·128) + tied decoder (768·30522·128) + NSP (768·2)
    macs: 14_250_149_376,
    source: "Hugging Face BertForPreTraining (bert-base-uncased), tied decoder counted once",
    weights: {
      "bert.embeddings.word_embeddings.weight": [30522, 768],
      "bert.embeddings.LayerNorm.weight": [768],
      "bert.encoder.layer.0.attention.self.query.weight": [768, 768],
      "bert.encoder.layer.11.output.LayerNorm.weight": [768],
      "bert.pooler.dense.weight": [768, 768],
      "cls.predictions.transform.dense.weight": [768, 768],
      "cls.predictions.transform.dense.bias": [768],
      "cls.predictions.transform.LayerNorm.weight": [768],
      "cls.predictions.transform.LayerNorm.bias": [768],
      "cls.predictions.bias": [30522],
      "cls.seq_relationship.weight": [2, 768],
      "cls.seq_relationship.bias": [2],
    },
    absent: ["embeddings.word_embeddings.weight", "cls.predictions.decoder.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [
      { name: "prediction_logits", dtype: "f32", shape: [1, 128, 30522] },
      { name: "seq_relationship_logits", dtype: "f32", shape: [1, 2] },
    ],
    ops: { gather: 3, linear: 76, matmul: 24, softmax: 12, gelu: 13, layernorm: 26, tanh: 1 },
    eps: 1e-12,
  },
  distilbert_base: {
    file: "specs/distilbert_base.nn",
    params: 66_362_880,
    // 6 x (4·768² + 2·768·3072)·128 linear + 6 x 2·128²·768 attention matmuls
    macs: 5_586_812_928,
    source: "Hugging Face distilbert-base-uncased DistilBertModel; MACs analytic at seq 128",
    weights: {
      "embeddings.word_embeddings.weight": [30522, 768],
      "embeddings.position_embeddings.weight": [512, 768],
      "embeddings.LayerNorm.weight": [768],
      "transformer.layer.0.attention.q_lin.weight": [768, 768],
      "transformer.layer.0.attention.k_lin.bias": [768],
      "transformer.layer.0.attention.v_lin.weight": [768, 768],
      "transformer.layer.0.attention.out_lin.weight": [768, 768],
      "transformer.layer.0.sa_layer_norm.weight": [768],
      "transformer.layer.0.ffn.lin1.weight": [3072, 768],
      "transformer.layer.0.ffn.lin2.weight": [768, 3072],
      "transformer.layer.5.output_layer_norm.bias": [768],
    },
    absent: ["transformer.layer.6.attention.q_lin.weight", "embeddings.token_type_embeddings.weight"],
    inputs: [ids("input_ids"), ids("attention_mask")],
    outputs: [{ name: "last_hidden_state", dtype: "f32", shape: [1, 128, 768] }],
    ops: { gather: 2, linear: 36, matmul: 12, softmax: 6, gelu: 6, layernorm: 13 },
    eps: 1e-12,
    check: exactGelu,
  },
  roberta_base: {
    file: "specs/roberta_base.nn",
    // bert_base with vocab 50265 (+19743·768), 514 positions (+2·768), one token type (-768)
    params: 124_645_632,
    // the same encoder as bert_base: 12 x (4·768² + 2·768·3072)·128 + 12 x 2·128²·768 + pooler 768²
    macs: 11_174_215_680,
    source: "Hugging Face roberta-base RobertaModel; MACs analytic at seq 128",
    weights: {
      "embeddings.word_embeddings.weight": [50265, 768],
      "embeddings.position_embeddings.weight": [514, 768],
      "embeddings.token_type_embeddings.weight": [1, 768],
      "embeddings.LayerNorm.weight": [768],
      "encoder.layer.0.attention.self.query.weight": [768, 768],
      "encoder.layer.0.attention.output.LayerNorm.bias": [768],
      "encoder.layer.0.intermediate.dense.weight": [3072, 768],
      "encoder.layer.11.output.LayerNorm.bias": [768],
      "pooler.dense.weight": [768, 768],
      "pooler.dense.bias": [768],
    },
    absent: ["encoder.layer.12.attention.self.query.weight", "roberta.embeddings.word_embeddings.weight"],
    // RobertaTokenizer gives no token_type_ids
    inputs: [ids("input_ids"), ids("attention_mask")],
    outputs: [
      { name: "last_hidden_state", dtype: "f32", shape: [1, 128, 768] },
      { name: "pooler_output", dtype: "f32", shape: [1, 768] },
    ],
    ops: { gather: 3, linear: 73, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 1 },
    eps: 1e-5,
    check: (g) => {
      exactGelu(g);
      // position ids start at padding_idx + 1 = 2; every token has type 0
      expect(embeddingIds(g, "embeddings.position_embeddings")).toEqual(range(2, 130));
      expect(embeddingIds(g, "embeddings.token_type_embeddings")).toEqual([0]);
    },
  },
  albert_base_v2: {
    file: "specs/albert_base_v2.nn",
    // embeddings (30000 + 512 + 2)·128 + LN 256, mapping 128·768 + 768, one shared layer
    // (4·(768² + 768) + 2·768·3072 + 3072 + 768 + 2 LN·1536), pooler 768² + 768
    params: 11_683_584,
    // mapping 128·768·128 + 12 x (4·768² + 2·768·3072)·128 + 12 x 2·128²·768 + pooler 768²
    macs: 11_186_798_592,
    source: "Hugging Face albert-base-v2 AlbertModel (11.7M params); MACs analytic at seq 128",
    weights: {
      "embeddings.word_embeddings.weight": [30000, 128],
      "embeddings.position_embeddings.weight": [512, 128],
      "embeddings.token_type_embeddings.weight": [2, 128],
      "embeddings.LayerNorm.weight": [128],
      "encoder.embedding_hidden_mapping_in.weight": [768, 128],
      "encoder.embedding_hidden_mapping_in.bias": [768],
      "encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight": [768, 768],
      "encoder.albert_layer_groups.0.albert_layers.0.attention.key.bias": [768],
      "encoder.albert_layer_groups.0.albert_layers.0.attention.value.weight": [768, 768],
      "encoder.albert_layer_groups.0.albert_layers.0.attention.dense.weight": [768, 768],
      "encoder.albert_layer_groups.0.albert_layers.0.attention.LayerNorm.weight": [768],
      "encoder.albert_layer_groups.0.albert_layers.0.ffn.weight": [3072, 768],
      "encoder.albert_layer_groups.0.albert_layers.0.ffn.bias": [3072],
      "encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight": [768, 3072],
      "encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.bias": [768],
      "pooler.weight": [768, 768],
      "pooler.bias": [768],
    },
    absent: [
      "encoder.albert_layer_groups.0.albert_layers.1.attention.query.weight",
      "encoder.albert_layer_groups.1.albert_layers.0.attention.query.weight",
      "pooler.dense.weight",
    ],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [
      { name: "last_hidden_state", dtype: "f32", shape: [1, 128, 768] },
      { name: "pooler_output", dtype: "f32", shape: [1, 768] },
    ],
    ops: { gather: 3, linear: 74, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 1 },
    eps: 1e-12,
    check: (g) => {
      for (const n of g.nodes.filter((n) => n.op === "gelu")) expect(n.attrs.approximate).toBe("tanh");
      // all 12 layers apply the one layer's weights
      const layer = "encoder.albert_layer_groups.0.albert_layers.0";
      for (const sub of ["attention.query", "attention.key", "attention.value", "attention.dense", "ffn", "ffn_output"]) {
        const uses = nodesAt(g, "linear", `${layer}.${sub}`);
        expect(uses, sub).toHaveLength(12);
        expect(new Set(uses.map((n) => n.inputs.slice(1).join())).size, `${sub} weights`).toBe(1);
      }
    },
  },
  tinybert_4l_312: {
    file: "specs/tinybert_4l_312.nn",
    // embeddings (30522 + 512 + 2)·312 + LN 624, 4 x 1,142,184 per layer, pooler 312² + 312
    params: 14_350_248,
    // 4 x (4·312² + 2·312·1200)·128 + 4 x 2·128²·312 + pooler 312²
    macs: 623_737_920,
    source: "Hugging Face huawei-noah/TinyBERT_General_4L_312D BertModel (14.4M); MACs analytic at seq 128",
    weights: {
      "embeddings.word_embeddings.weight": [30522, 312],
      "embeddings.position_embeddings.weight": [512, 312],
      "embeddings.token_type_embeddings.weight": [2, 312],
      "encoder.layer.0.attention.self.query.weight": [312, 312],
      "encoder.layer.0.attention.output.dense.weight": [312, 312],
      "encoder.layer.0.intermediate.dense.weight": [1200, 312],
      "encoder.layer.3.output.dense.weight": [312, 1200],
      "encoder.layer.3.output.LayerNorm.bias": [312],
      "pooler.dense.weight": [312, 312],
    },
    absent: ["encoder.layer.4.attention.self.query.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [
      { name: "last_hidden_state", dtype: "f32", shape: [1, 128, 312] },
      { name: "pooler_output", dtype: "f32", shape: [1, 312] },
    ],
    ops: { gather: 3, linear: 25, matmul: 8, softmax: 4, gelu: 4, layernorm: 9, tanh: 1 },
    eps: 1e-12,
    check: (g) => {
      exactGelu(g);
      // 12 heads of 26
      expect(nodesAt(g, "matmul", "encoder.layer.0").map((n) => g.values[n.outputs[0]!]!.type.shape)).toEqual([
        [1, 12, 128, 128],
        [1, 12, 128, 26],
      ]);
    },
  },
  bert_for_sequence_classification: {
    file: "specs/bert_for_sequence_classification.nn",
    // bert_base + classifier 768·2 + 2
    params: 109_483_778,
    // bert_base + classifier 768·2
    macs: 11_174_217_216,
    source: "Hugging Face BertForSequenceClassification (bert-base-uncased, 2 labels); MACs analytic at seq 128",
    weights: {
      "bert.embeddings.word_embeddings.weight": [30522, 768],
      "bert.embeddings.token_type_embeddings.weight": [2, 768],
      "bert.encoder.layer.0.attention.self.query.weight": [768, 768],
      "bert.encoder.layer.11.output.LayerNorm.weight": [768],
      "bert.pooler.dense.weight": [768, 768],
      "classifier.weight": [2, 768],
      "classifier.bias": [2],
    },
    absent: ["embeddings.word_embeddings.weight", "pooler.dense.weight", "bert.classifier.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [logits(2)],
    ops: { gather: 3, linear: 74, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 1 },
    eps: 1e-12,
    check: exactGelu,
  },
  bert_for_token_classification: {
    file: "specs/bert_for_token_classification.nn",
    // bert_base - pooler (768² + 768) + classifier 768·9 + 9
    params: 108_898_569,
    // bert_base - pooler 768² + classifier 128·768·9
    macs: 11_174_510_592,
    source: "Hugging Face BertForTokenClassification (bert-base-uncased, 9 labels); MACs analytic at seq 128",
    weights: {
      "bert.embeddings.word_embeddings.weight": [30522, 768],
      "bert.encoder.layer.11.output.LayerNorm.bias": [768],
      "classifier.weight": [9, 768],
      "classifier.bias": [9],
    },
    absent: ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "embeddings.word_embeddings.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [{ name: "logits", dtype: "f32", shape: [1, 128, 9] }],
    ops: { gather: 3, linear: 73, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 0, slice: 0 },
    eps: 1e-12,
    check: exactGelu,
  },
  bert_for_question_answering: {
    file: "specs/bert_for_question_answering.nn",
    // bert_base - pooler (768² + 768) + qa_outputs 768·2 + 2
    params: 108_893_186,
    // bert_base - pooler 768² + qa_outputs 128·768·2
    macs: 11_173_822_464,
    source: "Hugging Face BertForQuestionAnswering (bert-base-uncased); MACs analytic at seq 128",
    weights: {
      "bert.embeddings.word_embeddings.weight": [30522, 768],
      "bert.encoder.layer.11.output.LayerNorm.bias": [768],
      "qa_outputs.weight": [2, 768],
      "qa_outputs.bias": [2],
    },
    absent: ["bert.pooler.dense.weight", "embeddings.word_embeddings.weight"],
    inputs: [ids("input_ids"), ids("token_type_ids"), ids("attention_mask")],
    outputs: [
      { name: "start_logits", dtype: "f32", shape: [1, 128] },
      { name: "end_logits", dtype: "f32", shape: [1, 128] },
    ],
    ops: { gather: 3, linear: 73, matmul: 24, softmax: 12, gelu: 12, layernorm: 25, tanh: 0, slice: 2 },
    eps: 1e-12,
    check: exactGelu,
  },
  siamese_contrastive: {
    file: "specs/siamese_contrastive.nn",
    // one tower: 4 conv-bn stages (3->32->64->128->256) + linear 256->128; shared, so counted once
    params: 421_792,
    macs: 184_279_040 * 2,
    source: "analytic: two applications of the shared tower",
    weights: {
      "tower.features.0.0.weight": [32, 3, 3, 3],
      "tower.features.0.1.running_var": [32],
      "tower.features.3.0.weight": [256, 128, 3, 3],
      "tower.features.3.1.num_batches_tracked": [],
      "tower.embed.weight": [128, 256],
      "tower.embed.bias": [128],
    },
    inputs: [
      { name: "image_a", dtype: "f32", shape: [1, 3, 224, 224] },
      { name: "image_b", dtype: "f32", shape: [1, 3, 224, 224] },
      { name: "label", dtype: "f32", shape: [1] },
    ],
    outputs: [
      { name: "embedding_a", dtype: "f32", shape: [1, 128] },
      { name: "embedding_b", dtype: "f32", shape: [1, 128] },
      { name: "distance", dtype: "f32", shape: [1] },
      { name: "loss", dtype: "f32", shape: [] },
    ],
    ops: { conv2d: 8, batchnorm: 8, linear: 2 },
    eps: 1e-5,
  },
  siamese_triplet: {
    file: "specs/siamese_triplet.nn",
    params: 421_792,
    macs: 184_279_040 * 3,
    source: "analytic: three applications of the shared tower",
    weights: {
      "tower.features.0.0.weight": [32, 3, 3, 3],
      "tower.features.2.1.running_mean": [128],
      "tower.embed.weight": [128, 256],
    },
    inputs: ["anchor", "positive", "negative"].map((name) => ({ name, dtype: "f32", shape: [1, 3, 224, 224] })),
    outputs: [
      { name: "embedding_anchor", dtype: "f32", shape: [1, 128] },
      { name: "embedding_positive", dtype: "f32", shape: [1, 128] },
      { name: "embedding_negative", dtype: "f32", shape: [1, 128] },
      { name: "distance_positive", dtype: "f32", shape: [1] },
      { name: "distance_negative", dtype: "f32", shape: [1] },
      { name: "loss", dtype: "f32", shape: [] },
    ],
    ops: { conv2d: 12, batchnorm: 12, linear: 3 },
    eps: 1e-5,
  },
};

const cache = new Map<string, { graph: Graph; stats: ReturnType<typeof modelStats> }>();

/** Elaborates `file` (memoised when there are no options), expecting no diagnostics. */
function elaborate(file: string, options?: Parameters<typeof elaborateFile>[1]) {
  const cached = options === undefined ? cache.get(file) : undefined;
  if (cached) return cached;
  const r = elaborateFile(file, options);
  const messages = r.diagnostics.map((d) => `${d.severity}: ${d.message}`);
  expect(messages, `diagnostics of ${file}`).toEqual([]);
  expect(r.graph, `graph of ${file}`).toBeDefined();
  const result = { graph: r.graph!, stats: modelStats(r.graph!) };
  if (options === undefined) cache.set(file, result);
  return result;
}

function withinPercent(actual: number, expected: number, percent: number): void {
  const rel = Math.abs(actual - expected) / expected;
  expect(rel, `${actual} vs ${expected}`).toBeLessThanOrEqual(percent / 100);
}

describe("model zoo", () => {
  for (const [name, z] of Object.entries(zoo)) {
    describe(name, () => {
      it("elaborates with the reference parameter count and MACs", () => {
        const { graph, stats } = elaborate(z.file);
        expect(graph.name).toBe(name);
        expect(stats.params).toBe(z.params);
        if (z.macs !== undefined) withinPercent(stats.macs, z.macs, 1);
      });

      it("has the reference architecture", () => {
        const { graph } = elaborate(z.file);
        const counts: Record<string, number> = {};
        for (const n of graph.nodes) counts[n.op] = (counts[n.op] ?? 0) + 1;
        for (const [op, n] of Object.entries(z.ops ?? {})) expect(counts[op] ?? 0, `${op} nodes`).toBe(n);
        if (z.eps !== undefined) {
          const eps = new Set(graph.nodes.filter((n) => n.op === "batchnorm" || n.op === "layernorm").map((n) => n.attrs.eps));
          expect([...eps]).toEqual([z.eps]);
        }
        z.check?.(graph);
      });

      it("has the checkpoint's weight names and shapes, each once", () => {
        const { stats } = elaborate(z.file);
        const names = stats.weights.map((w) => w.name);
        const dups = names.filter((n, i) => names.indexOf(n) !== i);
        expect(dups).toEqual([]);
        const byName = new Map(stats.weights.map((w) => [w.name, w.shape]));
        for (const [w, shape] of Object.entries(z.weights)) {
          expect(byName.has(w), `weight ${w}`).toBe(true);
          expect(byName.get(w), `shape of ${w}`).toEqual(shape);
        }
        for (const w of z.absent ?? []) expect(byName.has(w), `no weight ${w}`).toBe(false);
        // trainable parameters are exactly the non-buffer weights
        const buffers = /\.(running_mean|running_var|num_batches_tracked)$/;
        const trainable = stats.weights
          .filter((w) => !buffers.test(w.name))
          .reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
        expect(trainable).toBe(z.params);
      });

      it("has the expected inputs and outputs", () => {
        const { stats } = elaborate(z.file);
        const strip = (ps: readonly Port[]) => ps.map((p) => ({ name: p.name, dtype: p.dtype, shape: [...p.shape] }));
        expect(strip(stats.inputs)).toEqual(z.inputs);
        expect(strip(stats.outputs)).toEqual(z.outputs);
      });
    });
  }

  it("every batchnorm buffer set is complete", () => {
    for (const z of Object.values(zoo)) {
      const { stats } = elaborate(z.file);
      const names = new Set(stats.weights.map((w) => w.name));
      for (const n of names) {
        if (!n.endsWith(".running_var")) continue;
        const base = n.slice(0, -".running_var".length);
        for (const s of ["weight", "bias", "running_mean", "num_batches_tracked"]) {
          expect(names.has(`${base}.${s}`), `${base}.${s} in ${z.file}`).toBe(true);
        }
      }
    }
  });
});

describe("segmentation models without the auxiliary head", () => {
  for (const [file, params] of [["specs/deeplabv3_resnet50.nn", 39_638_869], ["specs/deeplabv3_mobilenet_v3_large.nn", 11_025_477]] as const)
    it(`${file} with aux=false: torchvision's parameter count, no aux_classifier, only \`out\``, () => {
      const { stats } = elaborate(file, { set: { aux: false } });
      expect(stats.params).toBe(params);
      expect(stats.weights.filter((w) => w.name.startsWith("aux_classifier."))).toEqual([]);
      expect(stats.outputs.map((p) => p.name)).toEqual(["out"]);
    });
});

describe("model parameters", () => {
  // Howard et al. 2017, Table 6 (width multiplier, 224) and Table 7 (resolution, alpha 1.0):
  // million mult-adds and million parameters.
  const table: { alpha: number; resolution: number; macsM: number; paramsM: number }[] = [
    { alpha: 1.0, resolution: 224, macsM: 569, paramsM: 4.2 },
    { alpha: 0.75, resolution: 224, macsM: 325, paramsM: 2.6 },
    { alpha: 0.5, resolution: 224, macsM: 149, paramsM: 1.3 },
    { alpha: 0.25, resolution: 224, macsM: 41, paramsM: 0.5 },
    { alpha: 1.0, resolution: 192, macsM: 418, paramsM: 4.2 },
    { alpha: 1.0, resolution: 160, macsM: 290, paramsM: 4.2 },
    { alpha: 1.0, resolution: 128, macsM: 186, paramsM: 4.2 },
  ];
  for (const row of table) {
    it(`mobilenet_v1 alpha=${row.alpha} resolution=${row.resolution} matches the paper`, () => {
      const { stats } = elaborate("specs/mobilenet_v1.nn", { set: { alpha: row.alpha, resolution: row.resolution } });
      withinPercent(stats.macs, row.macsM * M, 1);
      expect(Math.round(stats.params / 1e5) / 10).toBe(row.paramsM);
      expect(stats.inputs[0]!.shape).toEqual([1, 3, row.resolution, row.resolution]);
      const c = Math.trunc(1024 * row.alpha);
      const w = new Map(stats.weights.map((x) => [x.name, x.shape]));
      expect(w.get("features.0.0.weight")).toEqual([Math.trunc(32 * row.alpha), 3, 3, 3]);
      expect(w.get("fc.weight")).toEqual([1000, c]);
    });
  }

  it("classes resizes the classifier", () => {
    const { stats } = elaborate("specs/resnet18.nn", { set: { classes: 10 } });
    expect(stats.params).toBe(11_689_512 - 990 * 513);
    expect(stats.outputs[0]!.shape).toEqual([1, 10]);
  });

  it("shapes override the input shape", () => {
    const { stats } = elaborate("specs/resnet50.nn", { shapes: { image: [2, 3, 160, 160] } });
    expect(stats.inputs[0]!.shape).toEqual([2, 3, 160, 160]);
    expect(stats.outputs[0]!.shape).toEqual([2, 1000]);
    expect(stats.params).toBe(25_557_032);
  });

  it("bert seq sets the sequence length", () => {
    const { stats } = elaborate("specs/bert_base.nn", { set: { seq: 64 } });
    expect(stats.inputs.map((p) => p.shape)).toEqual([
      [1, 64],
      [1, 64],
      [1, 64],
    ]);
    expect(stats.outputs.map((p) => p.shape)).toEqual([
      [1, 64, 768],
      [1, 768],
    ]);
    expect(stats.params).toBe(109_482_240);
  });

  it("the BERT heads take labels and layers", () => {
    const { stats } = elaborate("specs/bert_for_sequence_classification.nn", { set: { labels: 3, layers: 2 } });
    // 10 fewer layers of 4·(768² + 768) + 2·768·3072 + 3072 + 768 + 2·1536, one more label
    expect(stats.params).toBe(109_483_778 - 10 * 7_087_872 + 769);
    expect(stats.outputs[0]!.shape).toEqual([1, 3]);
    expect(stats.weights.some((w) => w.name.startsWith("bert.encoder.layer.2."))).toBe(false);
  });

  it("roberta's position ids end at 513 for seq 512, the longest sequence", () => {
    const { graph } = elaborate("specs/roberta_base.nn", { set: { seq: 512, layers: 1 } });
    expect(embeddingIds(graph, "embeddings.position_embeddings")).toEqual(range(2, 514));
    const longer = elaborateFile("specs/roberta_base.nn", { set: { seq: 513, layers: 1 } });
    expect(longer.diagnostics.map((d) => d.message)).toEqual(["assertion failed: the sequence is longer than the position embeddings"]);
  });
});
