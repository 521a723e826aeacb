import { resolve } from "node:path";
import type { BunPlugin } from "bun";

const shimPath = resolve(import.meta.dir, "../src/kube/undici-shim.ts");

// Bun never calls onResolve for its built-in "undici", so the rewrite happens at load time.
export const undiciShimPlugin: BunPlugin = {
  name: "client-node-undici-shim",
  setup(build) {
    build.onLoad(
      {
        filter:
          /@kubernetes[\\/]client-node[\\/]dist[\\/](config|watch|health|log|metrics|gen[\\/]http[\\/]isomorphic-fetch)\.js$/,
      },
      async (args) => {
        const source = await Bun.file(args.path).text();
        return {
          contents: source.replace(/from\s+['"]undici['"]/g, `from ${JSON.stringify(shimPath)}`),
          loader: "js",
        };
      },
    );
  },
};
