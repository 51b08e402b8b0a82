// A module resolve hook (node:module register()) for tfjs-core's ES module tree: its files import
// each other without the .js extension ("./gradients" beside a gradients/ folder), which bundlers
// and vitest resolve and Node does not. The gradient functions exist only there
// (dist/register_all_gradients.js; the CommonJS bundle Node loads for "@tensorflow/tfjs-core" has
// none); both copies share tfjs's global registries and engine.
import type { ResolveHook } from "node:module";

export const resolve: ResolveHook = async (specifier, context, next) => {
  const fromTfjs = context.parentURL?.includes("/node_modules/@tensorflow/") === true;
  if (fromTfjs && specifier.startsWith(".") && !specifier.endsWith(".js")) {
    try {
      return await next(`${specifier}.js`, context);
    } catch {
      // Not a file: as Node resolves it.
    }
  }
  return next(specifier, context);
};
