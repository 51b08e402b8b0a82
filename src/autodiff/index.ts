// Reverse-mode autodiff over the IR and the training graph built on it (docs/TRAINING.md).
export { gradients, NotDifferentiable, toCoreForm } from "./gradients.js";
export { convolutionsAsMatmuls } from "./im2col.js";
export { batchnormsAsElementwise, checkTrainingOptions, nextName, OPTIMIZERS, trainingForward, trainingGraph, TrainingError, weightsAsInputs, type Optimizer, type TrainingGraph, type TrainingOptions, type Update } from "./training.js";
