import { compact } from "../ir/rewrite.js";
import { registerPass } from "./manager.js";

registerPass({
  name: "dce",
  description: "remove nodes, constants and weights that no output depends on",
  run: compact,
});
