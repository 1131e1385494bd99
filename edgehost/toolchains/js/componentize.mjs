// Builds one JavaScript guest into a wasi:http component with componentize-js's JS API (its
// CLI, through jco, does not run offline). Called by edgehost/toolchains/javascript.py:
//   node componentize.mjs TOOLCHAIN_DIR SOURCE WIT_DIR WORLD OUTPUT
// TOOLCHAIN_DIR is where `npm ci` installed this folder's package.json. A failure prints its
// message on stderr (the reason last) and exits 1.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [toolchain, sourcePath, witPath, worldName, output] = process.argv.slice(2);
const modules = join(toolchain, "node_modules");
const entry = join(modules, "@bytecodealliance", "componentize-js", "src", "componentize.js");
try {
  // componentize-js reports a syntax error without saying where: parse first, with the parser
  // it uses itself, and name the first error's line.
  const oxc = await import(pathToFileURL(join(modules, "oxc-parser", "index.js")).href);
  const code = await readFile(sourcePath, "utf8");
  const [error] = (await oxc.parseAsync(sourcePath, code)).errors;
  if (error) {
    const at = error.labels?.[0]?.start ?? 0;
    const line = code.slice(0, at).split("\n").length;
    throw new Error(`SyntaxError: ${error.message} (${sourcePath}, line ${line})`);
  }
  const { componentize } = await import(pathToFileURL(entry).href);
  const { component } = await componentize({ sourcePath, witPath, worldName });
  await writeFile(output, component);
} catch (err) {
  process.stderr.write(`${String(err?.message ?? err).trim()}\n`);
  process.exit(1);
}
