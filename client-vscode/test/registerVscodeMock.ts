/** Import first in every test file: `require("vscode")` then returns the mock. */
import Module from "node:module";
import * as mock from "./vscodeMock";

interface Loader {
  _load(request: string, parent: unknown, isMain: boolean): unknown;
}

const loader = Module as unknown as Loader;
const load = loader._load.bind(Module);
loader._load = (request: string, parent: unknown, isMain: boolean): unknown =>
  request === "vscode" ? mock : load(request, parent, isMain);
