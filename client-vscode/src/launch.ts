/**
 * How Python processes are launched: the server (`python -m riskhints serve`), the interpreter
 * probe and the CLI. Pure functions of their inputs (no `vscode`), unit-tested.
 *
 * The bundled server (`bundled/libs`, filled by `pip install --target` at packaging time) goes
 * first on PYTHONPATH, unless the user prefers their own installed riskhints and the interpreter
 * has one. Processes never start with the workspace as their import root: `python -m` puts the
 * current directory first on sys.path, so a `riskhints/` folder in a workspace would otherwise
 * run instead of the server. The server runs from the extension's folder; the CLI, which needs
 * the workspace as its current directory, runs through BOOTSTRAP, which drops that entry.
 */
import * as path from "node:path";
import type { TraceLevel } from "./settings";

export const MIN_PYTHON: readonly [number, number] = [3, 10];

/**
 * The first statement of every `-c` program: `-c` puts the current directory (a workspace
 * folder) first on sys.path, so it is dropped before anything is imported. Only `sys` (built
 * in, never read from a folder) comes before; a workspace `runpy.py` or `json.py` never runs.
 */
export const CLEAN_SYS_PATH = "import sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; ";

/** `python -m riskhints` without the current directory on sys.path. */
export const BOOTSTRAP =
  CLEAN_SYS_PATH + "import runpy; runpy.run_module('riskhints', run_name='__main__', alter_sys=True)";

/** Prints the interpreter's version and where its own riskhints is, as one JSON line. */
export const PROBE =
  CLEAN_SYS_PATH +
  "import importlib.util, json; spec = importlib.util.find_spec('riskhints'); " +
  "print(json.dumps({'version': list(sys.version_info[:2]), " +
  "'installed': spec.origin if spec else None}))";

export interface Probe {
  version: [number, number];
  /** The installed riskhints package's `__init__.py`, or null. */
  installed: string | null;
}

export function parseProbe(stdout: string): Probe {
  const line = stdout.trim().split("\n").pop() ?? "";
  const data = JSON.parse(line) as { version?: unknown; installed?: unknown };
  const version = data.version;
  if (
    !Array.isArray(version) ||
    version.length !== 2 ||
    !version.every((part) => Number.isInteger(part))
  ) {
    throw new Error(`unexpected interpreter probe output: ${line}`);
  }
  return {
    version: [version[0] as number, version[1] as number],
    installed: typeof data.installed === "string" ? data.installed : null,
  };
}

/** What `scripts/bundle.mjs` records in `bundled/bundle.json`. */
export interface BundleInfo {
  /** "3.11": the bundled libcst is a compiled extension built for this CPython. */
  python: string;
  riskhints: string;
}

export interface ServerChoice {
  useBundled: boolean;
  /** Said once in the output channel: why this choice, or what may go wrong with it. */
  note: string;
}

export class UnsupportedPython extends Error {}

export function chooseServer(
  probe: Probe,
  preferInstalled: boolean,
  bundle: BundleInfo | undefined,
): ServerChoice {
  const [major, minor] = probe.version;
  const version = `${major}.${minor}`;
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new UnsupportedPython(
      `riskhints needs Python ${MIN_PYTHON.join(".")} or newer; the interpreter is ${version}`,
    );
  }
  if (preferInstalled && probe.installed !== null) {
    return { useBundled: false, note: `using the installed riskhints (${probe.installed})` };
  }
  const why = preferInstalled ? "no installed riskhints found; " : "";
  if (bundle === undefined) {
    return {
      useBundled: false,
      note: `${why}no bundled server in this build (run \`npm run bundle\`); trying the installed one`,
    };
  }
  if (bundle.python !== version) {
    return {
      useBundled: true,
      note:
        `${why}using the bundled server, built for Python ${bundle.python}; the interpreter is ` +
        `${version}, so its compiled dependencies may not load. If the server fails to start, ` +
        "install riskhints in that environment (`pip install` of a riskhints checkout or of the " +
        "wheel `make dist` builds) and set riskhints.preferInstalledServer.",
    };
  }
  return { useBundled: true, note: `${why}using the bundled server (riskhints ${bundle.riskhints})` };
}

/** `env` with `libs` first on PYTHONPATH (kept: the user's own entries, after ours). */
export function withBundledLibs(env: NodeJS.ProcessEnv, libs: string): NodeJS.ProcessEnv {
  const existing = env.PYTHONPATH;
  return {
    ...env,
    PYTHONPATH: existing ? `${libs}${path.delimiter}${existing}` : libs,
  };
}

export interface ProcessPlan {
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface LaunchInputs {
  /** The interpreter command (executable first). */
  interpreter: readonly string[];
  useBundled: boolean;
  bundledLibs: string;
  baseEnv: NodeJS.ProcessEnv;
}

function environment(inputs: LaunchInputs): NodeJS.ProcessEnv {
  const env = { ...inputs.baseEnv, PYTHONIOENCODING: "utf-8" };
  return inputs.useBundled ? withBundledLibs(env, inputs.bundledLibs) : env;
}

function split(interpreter: readonly string[]): [string, string[]] {
  const [command, ...prefix] = interpreter;
  if (command === undefined || command === "") {
    throw new Error("no Python interpreter");
  }
  return [command, prefix];
}

/** The server: its log level follows `riskhints.trace.server` (-v info, -vv debug). */
export function serverPlan(inputs: LaunchInputs, trace: TraceLevel, cwd: string): ProcessPlan {
  const [command, prefix] = split(inputs.interpreter);
  const verbosity = { off: [], messages: ["-v"], verbose: ["-vv"] }[trace];
  return {
    command,
    args: [...prefix, "-m", "riskhints", "serve", ...verbosity],
    cwd,
    env: environment(inputs),
  };
}

/** `riskhints <args>` run in `cwd` (a workspace folder), safely: see BOOTSTRAP. */
export function cliPlan(inputs: LaunchInputs, args: readonly string[], cwd: string): ProcessPlan {
  const [command, prefix] = split(inputs.interpreter);
  return { command, args: [...prefix, "-c", BOOTSTRAP, ...args], cwd, env: environment(inputs) };
}

export function probePlan(interpreter: readonly string[], cwd: string, env: NodeJS.ProcessEnv): ProcessPlan {
  const [command, prefix] = split(interpreter);
  return { command, args: [...prefix, "-c", PROBE], cwd, env };
}
