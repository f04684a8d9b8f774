import "./registerVscodeMock";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  BOOTSTRAP,
  chooseServer,
  cliPlan,
  type LaunchInputs,
  parseProbe,
  probePlan,
  serverPlan,
  UnsupportedPython,
  withBundledLibs,
} from "../src/launch";
import { modelPython, REPO_ROOT } from "../tools/settingsModel";

const libs = "/ext/bundled/libs";
const inputs = (useBundled: boolean, baseEnv: NodeJS.ProcessEnv = { PATH: "/usr/bin" }): LaunchInputs => ({
  interpreter: ["/usr/bin/python3"],
  useBundled,
  bundledLibs: libs,
  baseEnv,
});
const bundle = { python: "3.11", riskhints: "0.1.0" };

describe("server command and environment", () => {
  it("runs python -m riskhints serve with the bundled libs first on PYTHONPATH", () => {
    const plan = serverPlan(inputs(true, { PATH: "/usr/bin", PYTHONPATH: "/mine" }), "off", "/ext");
    assert.equal(plan.command, "/usr/bin/python3");
    assert.deepEqual(plan.args, ["-m", "riskhints", "serve"]);
    assert.equal(plan.cwd, "/ext");
    assert.equal(plan.env.PYTHONPATH, `${libs}${path.delimiter}/mine`);
    assert.equal(plan.env.PATH, "/usr/bin");
  });

  it("leaves PYTHONPATH alone for an installed server", () => {
    assert.equal(serverPlan(inputs(false), "off", "/ext").env.PYTHONPATH, undefined);
    assert.equal(withBundledLibs({}, libs).PYTHONPATH, libs);
  });

  it("follows riskhints.trace.server with the server's log level", () => {
    assert.deepEqual(serverPlan(inputs(true), "messages", "/ext").args.slice(2), ["serve", "-v"]);
    assert.deepEqual(serverPlan(inputs(true), "verbose", "/ext").args.slice(2), ["serve", "-vv"]);
  });

  it("keeps an interpreter command's prefix (conda run ...)", () => {
    const plan = serverPlan({ ...inputs(true), interpreter: ["conda", "run", "python"] }, "off", "/ext");
    assert.equal(plan.command, "conda");
    assert.deepEqual(plan.args, ["run", "python", "-m", "riskhints", "serve"]);
    assert.throws(() => serverPlan({ ...inputs(true), interpreter: [] }, "off", "/ext"));
  });

  it("runs the CLI in the workspace through the bootstrap", () => {
    const plan = cliPlan(inputs(true), ["failures", "report", "--format", "markdown"], "/work/project");
    assert.deepEqual(plan.args, ["-c", BOOTSTRAP, "failures", "report", "--format", "markdown"]);
    assert.equal(plan.cwd, "/work/project");
    assert.equal(plan.env.PYTHONPATH, libs);
  });
});

describe("bundled or installed server", () => {
  it("prefers the user's installed riskhints only when asked and present", () => {
    const installed = { version: [3, 11] as [number, number], installed: "/venv/riskhints/__init__.py" };
    assert.equal(chooseServer(installed, true, bundle).useBundled, false);
    assert.equal(chooseServer(installed, false, bundle).useBundled, true);
    const missing = { version: [3, 11] as [number, number], installed: null };
    const choice = chooseServer(missing, true, bundle);
    assert.equal(choice.useBundled, true);
    assert.match(choice.note, /no installed riskhints/);
  });

  it("refuses Python older than 3.10 with a clear message", () => {
    assert.throws(() => chooseServer({ version: [3, 9], installed: null }, false, bundle), UnsupportedPython);
    assert.throws(() => chooseServer({ version: [2, 7], installed: null }, false, bundle), /3\.10 or newer/);
  });

  it("warns when the bundle was built for another Python", () => {
    const choice = chooseServer({ version: [3, 12], installed: null }, false, bundle);
    assert.equal(choice.useBundled, true);
    assert.match(choice.note, /built for Python 3\.11; the interpreter is 3\.12/);
  });

  it("tries the installed server in a build without the bundle", () => {
    assert.equal(chooseServer({ version: [3, 11], installed: null }, false, undefined).useBundled, false);
  });

  it("parses the probe's last line", () => {
    assert.deepEqual(parseProbe('noise\n{"version": [3, 11], "installed": null}\n'), {
      version: [3, 11],
      installed: null,
    });
    assert.throws(() => parseProbe('{"version": "3.11"}'), /unexpected/);
  });
});

describe("with a real Python", () => {
  const python = modelPython();
  let available = true;
  try {
    execFileSync(python, ["-c", "import libcst, pygls"], {
      env: { ...process.env, PYTHONPATH: path.join(REPO_ROOT, "server") },
    });
  } catch {
    available = false;
  }
  const skip = available ? false : `no Python with riskhints' dependencies (${python})`;
  if (!available && process.env.CI === "true") {
    it("needs a Python with riskhints' dependencies under CI", () => assert.fail(String(skip)));
  }

  it("the probe reports the version and an installed riskhints", { skip }, () => {
    const plan = probePlan([python], os.tmpdir(), { ...process.env, PYTHONPATH: path.join(REPO_ROOT, "server") });
    const probe = parseProbe(execFileSync(plan.command, plan.args, { cwd: plan.cwd, env: plan.env, encoding: "utf8" }));
    assert.ok(probe.version[0] === 3 && probe.version[1] >= 10);
    assert.equal(probe.installed, path.join(REPO_ROOT, "server", "riskhints", "__init__.py"));
  });

  it("the CLI bootstrap ignores a riskhints/ folder in the workspace", { skip }, () => {
    const workspace = fs.mkdtempSync(path.join(os.tmpdir(), "riskhints-shadow-"));
    try {
      fs.mkdirSync(path.join(workspace, "riskhints"));
      fs.writeFileSync(path.join(workspace, "riskhints", "__init__.py"), "");
      fs.writeFileSync(path.join(workspace, "riskhints", "__main__.py"), "print('the workspace ran')");
      const plan = cliPlan(
        { interpreter: [python], useBundled: true, bundledLibs: path.join(REPO_ROOT, "server"), baseEnv: process.env },
        ["--version"],
        workspace,
      );
      const out = execFileSync(plan.command, plan.args, { cwd: plan.cwd, env: plan.env, encoding: "utf8" });
      assert.match(out, /^riskhints \d+\.\d+\.\d+/);
    } finally {
      fs.rmSync(workspace, { recursive: true, force: true });
    }
  });
});
