// Every kernel emitter, registered on import.
import "./elementwise.js";
import "./movement.js";
import "./pool.js";
import "./reduce.js";
import "./gemm/kernels.js";
import "./gemm/attention.js";
import "./conv.js";
