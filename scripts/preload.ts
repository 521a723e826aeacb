// Loaded by bunfig.toml for `bun run` and `bun test`, so sources behave as the compiled binary does.
import { plugin } from "bun";
import { undiciShimPlugin } from "./undici-plugin.ts";

plugin(undiciShimPlugin);
