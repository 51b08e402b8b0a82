// Every fast-check property runs from a fixed seed, so CI is reproducible; set GRAPHC_FC_SEED to
// explore other seeds (a failure report prints the seed and path to replay it).
import fc from "fast-check";

fc.configureGlobal({ seed: Number(process.env.GRAPHC_FC_SEED ?? 20261126) });
