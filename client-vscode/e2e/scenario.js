// @ts-check
/**
 * One VS Code session, driven in headless Chromium: the scenario of tests/e2e/test_vscode.py.
 *
 * The pytest side starts code-server (with the packaged extension installed) and hands this
 * script a JSON config as argv[2]:
 *   {url, file, diagnostics, screenshots, result}
 * `file` is the workspace file to open, `diagnostics` the file the extension writes
 * `vscode.languages.getDiagnostics()` to in test mode (RISKHINTS_VSCODE_TEST_OUT), `result` where
 * this script writes what it saw. Assertions live in pytest; this script only waits for each step
 * to happen (each wait names what it waited for when it times out) and records:
 *   steps: [{name, seconds, diagnostics (this file's, from VS Code), text (the editor's), ...}]
 *   error: the first failure, if any (a screenshot `failure.png` is taken then).
 *
 * UI quirks (../../../shared/E2E-CLIENTS.md): the squiggle is hovered with page.mouse at its
 * bounding box (locator.hover is blocked by the text layer), menu entries are chosen with the
 * keyboard (the context-view overlay blocks the pointer), and the Problems panel is given time to
 * refresh before its screenshot.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const { fileURLToPath } = require("url");
const { chromium } = require("playwright-core");

const config = JSON.parse(process.argv[2]);
const SQUIGGLES = ".squiggly-warning, .squiggly-error, .squiggly-info";
const STEP_TIMEOUT = 60_000; // the first diagnostics include the server's start (~2 s here)

/**
 * One entry of the extension's dump (client-vscode/src/testHook.ts).
 * @typedef {{code: string | null, source: string | null, message: string, severity: string,
 *   range: {start: {line: number, character: number},
 *           end: {line: number, character: number}}}} Diagnostic
 */

/** The diagnostics VS Code holds for our file, read from the extension's test-mode dump. */
function heldDiagnostics() {
  /** @type {{uri: string, diagnostics: Diagnostic[]}[]} */
  let all;
  try {
    all = JSON.parse(fs.readFileSync(config.diagnostics, "utf8"));
  } catch {
    return null; // not written yet (or mid-write on a writer without rename)
  }
  const mine = all.find(
    (entry) => entry.uri.startsWith("file:") && fileURLToPath(entry.uri) === config.file,
  );
  return mine ? mine.diagnostics : [];
}

/**
 * @template T
 * @param {string} what
 * @param {() => Promise<T | null | undefined | false> | T | null | undefined | false} probe
 * @returns {Promise<T>}
 */
async function waitFor(what, probe, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout / 1000}s waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function main() {
  /** @type {any} */
  const result = { steps: [], error: null, consoleErrors: [], codeActionAttempts: [] };
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: config.chromium,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on("console", (message) => {
    if (message.type() === "error") result.consoleErrors.push(message.text().slice(0, 300));
  });
  const editor = page.locator(".editor-instance .monaco-editor").first();
  let stepStarted = Date.now();

  /** The editor's text as VS Code renders it (the file is short: every line is rendered). */
  async function editorText() {
    const lines = await editor.locator(".view-lines .view-line").evaluateAll((nodes) =>
      nodes
        .map((node) => ({
          top: parseFloat(/** @type {HTMLElement} */ (node).style.top),
          text: node.textContent || "",
        }))
        .sort((a, b) => a.top - b.top)
        .map((line) => line.text.replace(/\u00a0/g, " ")),
    );
    return lines.join("\n");
  }

  /** @param {string} name @param {Record<string, any>} extra */
  async function step(name, extra = {}) {
    await page.screenshot({ path: path.join(config.screenshots, `${name}.png`) });
    result.steps.push({
      name,
      seconds: (Date.now() - stepStarted) / 1000,
      diagnostics: heldDiagnostics(),
      text: await editorText(),
      ...extra,
    });
    stepStarted = Date.now();
  }

  /**
   * Puts the cursor at a 0-based line and character with "Go to Line/Column" (Ctrl+G).
   * @param {number} line @param {number} character
   */
  async function goTo(line, character) {
    await page.keyboard.press("Control+1"); // focus the editor (a click is blocked by overlays)
    await page.keyboard.press("Control+g");
    const input = page.locator(".quick-input-widget input");
    await input.waitFor({ state: "visible" });
    await input.fill(`:${line + 1}:${character + 1}`);
    await page.keyboard.press("Enter");
    await input.waitFor({ state: "hidden" });
  }

  /**
   * Opens the code action menu (Ctrl+.) and runs the entry whose label starts with `title`,
   * moving to it with the arrow keys, after a screenshot `<shot>.png` of the open menu. Returns
   * every label the menu offered.
   * @param {string} title @param {string} shot
   */
  async function runCodeAction(title, shot) {
    const rows = page.locator(".action-widget .monaco-list-row.action");
    const none = page.locator(".monaco-editor-overlaymessage", { hasText: "No code actions" });
    // The light bulb says the server answered an automatic request here. A manual request
    // racing the cursor move has once come back empty ("No code actions available"): retry then.
    await waitFor("the light bulb", () => page.locator(".lightBulbWidget").first().isVisible());
    for (let attempt = 1; ; attempt += 1) {
      await page.keyboard.press("Control+.");
      const shown = await waitFor("the code action menu", async () =>
        (await rows.count()) > 0 ? "menu" : (await none.isVisible()) ? "none" : null,
      );
      result.codeActionAttempts.push({ title, attempt, shown });
      if (shown === "menu") break;
      if (attempt === 5) {
        throw new Error(`"No code actions available" ${attempt} times for "${title}"`);
      }
      await page.keyboard.press("Escape");
      await page.waitForTimeout(300);
    }
    /** @type {string[]} */
    const labels = await rows.evaluateAll((nodes) =>
      nodes.map((node) =>
        (node.querySelector(".title")?.textContent || node.textContent || "").trim(),
      ),
    );
    const index = labels.findIndex((label) => label.startsWith(title));
    if (index < 0) throw new Error(`no code action "${title}" in ${JSON.stringify(labels)}`);
    // Focus starts on the first enabled entry; arrows skip the group headers.
    for (let i = 0; i < index; i += 1) await page.keyboard.press("ArrowDown");
    const focusedRow = page.locator(".action-widget .monaco-list-row.action.focused .title");
    const focused = ((await focusedRow.textContent()) || "").trim();
    if (!focused.startsWith(title)) throw new Error(`focused "${focused}", wanted "${title}"`);
    await page.screenshot({ path: path.join(config.screenshots, `${shot}.png`) });
    await page.keyboard.press("Enter");
    await rows.first().waitFor({ state: "hidden" });
    return labels;
  }

  try {
    await page.goto(config.url, { waitUntil: "domcontentloaded" });
    await page.locator(".monaco-workbench").waitFor({ timeout: STEP_TIMEOUT });
    await page.locator(".explorer-folders-view").waitFor({ timeout: STEP_TIMEOUT });

    // Open the file with Quick Open, as a user would.
    await page.keyboard.press("Control+p");
    await page.locator(".quick-input-widget input").waitFor({ state: "visible" });
    await page.keyboard.type(path.basename(config.file));
    const match = page.locator(".quick-input-list .monaco-list-row", {
      hasText: path.basename(config.file),
    });
    await match.first().waitFor();
    await page.keyboard.press("Enter");
    await editor.locator(".view-lines").waitFor();

    // 1. The squiggle and its hover with the evidence.
    const lock = await waitFor("an RH202 diagnostic held by VS Code", () =>
      (heldDiagnostics() || []).find((d) => d.code === "RH202"),
    );
    const squiggle = editor.locator(SQUIGGLES).first();
    await squiggle.waitFor({ state: "visible" });
    const box = await squiggle.boundingBox();
    if (!box) throw new Error("the squiggle has no bounding box");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const hover = page.locator(".monaco-hover:not(.hidden) .hover-contents").first();
    await waitFor("the hover over the squiggle", async () =>
      (await hover.isVisible()) && /RH202/.test((await hover.textContent()) || ""),
    );
    await page.waitForTimeout(400); // the hover fades in: let the screenshot catch it opaque
    const squiggles = await editor.locator(SQUIGGLES).count();
    await step("01-squiggle-hover", {
      hover: await page.locator(".monaco-hover:not(.hidden)").first().innerText(),
      squiggles,
      squiggleClass: await squiggle.getAttribute("class"),
    });
    await page.mouse.move(5, 5);
    await page.keyboard.press("Escape");

    // 2. The Problems entry.
    await page.keyboard.press("Control+Shift+m");
    const problemRows = page.locator(".markers-panel .monaco-list-row");
    await waitFor("an RH202 row in the Problems panel", async () =>
      (await problemRows.allInnerTexts()).some((text) => text.includes("RH202")),
    );
    await page.waitForTimeout(500); // the panel re-renders once more after the first rows appear
    await step("02-problems", { problems: await problemRows.allInnerTexts() });

    // 3. The quick fix: the squiggle goes.
    await goTo(lock.range.start.line, lock.range.start.character);
    const fixTitle = "Use an asyncio.Lock";
    const fixMenu = await runCodeAction(fixTitle, "03-quick-fix-menu");
    await waitFor("VS Code to drop the RH202 diagnostic", () => {
      const held = heldDiagnostics();
      return held !== null && !held.some((d) => d.code === "RH202");
    });
    await waitFor("the squiggles to go", async () =>
      (await editor.locator(SQUIGGLES).count()) === 0,
    );
    await step("03-quick-fix-applied", { menu: fixMenu });

    // 4. The checklist action on the (fixed) function: the comment block goes above it.
    const text = await editorText();
    const defLine = text.split("\n").findIndex((line) => line.startsWith("async def refresh_"));
    await goTo(defLine, 10);
    const checklistMenu = await runCodeAction("Insert assumptions checklist", "04-checklist-menu");
    await waitFor("the checklist comment in the editor", async () =>
      (await editorText()).includes("# riskhints assumptions for refresh_price:"),
    );
    await page.keyboard.press("Control+s");
    await waitFor("the file saved", () =>
      fs.readFileSync(config.file, "utf8").includes("# riskhints assumptions for refresh_price:"),
    );
    await step("04-checklist-inserted", {
      menu: checklistMenu,
      saved: fs.readFileSync(config.file, "utf8"),
    });
  } catch (error) {
    result.error = String((error && /** @type {any} */ (error).stack) || error);
    await page.screenshot({ path: path.join(config.screenshots, "failure.png") }).catch(() => {});
  } finally {
    result.seconds = (Date.now() - started) / 1000;
    fs.writeFileSync(config.result, JSON.stringify(result, null, 2));
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
