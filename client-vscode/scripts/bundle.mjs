// Fills bundled/libs with the server and its Python dependencies (`pip install --target`), so
// the extension works with no `pip install` by the user, and records in bundled/bundle.json which
// CPython the compiled dependency (libcst) was built for: the extension warns on a mismatch.
//
// Python: $RISKHINTS_PYTHON, else the repository's .venv, else python3 (3.10+ with pip).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const extensionRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const repoRoot = path.resolve(extensionRoot, "..");
const bundled = path.join(extensionRoot, "bundled");
const libs = path.join(bundled, "libs");
const venvPython = path.join(repoRoot, ".venv", "bin", "python");
const python =
  process.env.RISKHINTS_PYTHON || (fs.existsSync(venvPython) ? venvPython : "python3");

function python_(args, options = {}) {
  return execFileSync(python, args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], ...options });
}

const started = Date.now();
fs.rmSync(libs, { recursive: true, force: true });
fs.mkdirSync(libs, { recursive: true });
// A copy of the sources, built outside the working tree: an in-tree build leaves build/ and
// *.egg-info behind and races with anything else building the repository.
const source = fs.mkdtempSync(path.join(bundled, ".source-"));
try {
  for (const item of ["pyproject.toml", "README.md", "server"]) {
    fs.cpSync(path.join(repoRoot, item), path.join(source, item), {
      recursive: true,
      filter: (from) => !from.includes("__pycache__") && !from.endsWith(".egg-info"),
    });
  }
  python_([
    "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
    "--no-warn-script-location", "--target", libs, source,
  ], { stdio: "inherit" });
} finally {
  fs.rmSync(source, { recursive: true, force: true });
}
// Console scripts carry this machine's interpreter path in their shebang: useless elsewhere.
fs.rmSync(path.join(libs, "bin"), { recursive: true, force: true });

const info = JSON.parse(
  python_(
    ["-c", "import json, sys, riskhints.lsp.server, riskhints; " +
      "print(json.dumps({'python': '%d.%d' % sys.version_info[:2], 'riskhints': riskhints.__version__}))"],
    { cwd: bundled, env: { ...process.env, PYTHONPATH: libs } },
  ).trim(),
);
fs.writeFileSync(path.join(bundled, "bundle.json"), `${JSON.stringify(info, null, 2)}\n`);
console.log(
  `bundled riskhints ${info.riskhints} for Python ${info.python} in ${path.relative(extensionRoot, libs)} ` +
    `(${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
