"""The workspace: every module of a project, parsed on demand, so that calls are followed across
files (a route in ``api/`` calling a helper in ``services/`` that calls ``requests.get``).

A module is analysed against a :class:`~riskhints.analysis.summaries.Program` made of itself and
the workspace modules it imports, transitively; summaries (may block, locks acquired, loop
waits) then cross files, and evidence chains name every file they pass through. Modules are
parsed at most once per :class:`Workspace` and kept, so analysing a whole project parses each
file once; the closure is capped, and an import that names no workspace module (a third-party
package, a typo) is simply not followed.

Module names come from paths relative to the project root (``src/`` layouts and namespace
packages included, see :func:`~riskhints.analysis.engine.module_name_for`); relative imports are
resolved by the facts builder. The text of a module can be overridden (an editor's unsaved
buffer), and :meth:`Workspace.invalidate` drops what depended on a changed module.
"""

from __future__ import annotations

import ast
import gc
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import safe_read
from .digests import digest
from .engine import ParsedModule, analyze_parsed, decode_source, module_name_for, parse_source
from .facts import ExternalTypes, ModuleFacts, imported_targets, is_package_path
from .finding import Finding
from .inference import ReceiverInference, refine
from .options import AnalysisOptions
from .parse import parse_module
from .summaries import Program

#: Modules pulled into one analysis at most: a module importing half a monorepo still
#: analyses in bounded time (calls into the modules left out are simply not followed).
MAX_CLOSURE = 400


@dataclass(frozen=True)
class WorkspaceFile:
    path: Path  # on disk
    shown: str  # as reports show it (relative to the working directory)


@dataclass(frozen=True)
class ModuleAnalysis:
    findings: list[Finding]
    # The other workspace files the findings depend on, with the digest of their content:
    # a cached result is valid only while every one of them is unchanged.
    dependencies: dict[str, str]


class Workspace:
    """One process's view of a project's modules (not thread-safe: one caller at a time)."""

    def __init__(
        self,
        files: Mapping[str, WorkspaceFile],
        inference: ReceiverInference | None = None,
        freeze_loads: bool = True,
    ) -> None:
        self.files: dict[str, WorkspaceFile] = dict(files)
        # Types jedi infers for receivers the facts left untyped (None: syntax only).
        self.inference = inference
        self._by_path = {str(f.path.resolve()): module for module, f in self.files.items()}
        self._parsed: dict[str, ParsedModule | None] = {}
        self._digests: dict[str, str] = {}
        self._deps: dict[str, frozenset[str]] = {}
        self._import_keys: dict[str, str] = {}
        # Identifiers of files read only for :meth:`constructing_modules` (never parsed), so
        # that analysing a module again does not read the whole tree again.
        self._words: dict[str, frozenset[str]] = {}
        self.overrides: dict[str, str] = {}  # module -> unsaved text
        self.freeze_loads = freeze_loads  # see ``parsed``
        self._loading: set[str] = set()

    @classmethod
    def from_paths(
        cls,
        paths: Iterable[Path],
        root: Path,
        shown: Mapping[Path, str],
        inference: ReceiverInference | None = None,
        freeze_loads: bool = True,
    ) -> Workspace:
        files: dict[str, WorkspaceFile] = {}
        resolved_root = root.resolve()
        for path in paths:
            try:
                relative = path.resolve().relative_to(resolved_root).as_posix()
            except ValueError:
                relative = path.name
            files.setdefault(module_name_for(relative), WorkspaceFile(path, shown[path]))
        return cls(files, inference, freeze_loads)

    def module_for(self, path: Path) -> str | None:
        return self._by_path.get(str(path.resolve()))

    def add_file(self, module: str, file: WorkspaceFile) -> set[str]:
        """A file created (or first seen) after the workspace was made; returns the modules
        dropped because an import of theirs may now resolve to it."""
        self.files[module] = file
        self._by_path[str(file.path.resolve())] = module
        return self._drop_importers_of_name(module)

    def remove_file(self, module: str) -> set[str]:
        """A deleted file: forget it and what depended on it."""
        file = self.files.pop(module, None)
        if file is not None:
            self._by_path.pop(str(file.path.resolve()), None)
        self.overrides.pop(module, None)
        return self.invalidate(module) | self._drop_importers_of_name(module)

    def _drop_importers_of_name(self, module: str) -> set[str]:
        # An import that did not resolve is not recorded as a dependency: re-read the loaded
        # modules whose imports name ``module``, a member of it, or a package above it.
        def names_it(target: str) -> bool:
            return (
                target == module
                or target.startswith(module + ".")
                or module.startswith(target + ".")
            )

        dropped: set[str] = set()
        for name, parsed in list(self._parsed.items()):
            if name in dropped or parsed is None or parsed.facts is None or name == module:
                continue
            if any(names_it(target) for target in parsed.facts.imports.values()):
                dropped |= self.invalidate(name)
        return dropped

    # -- modules -------------------------------------------------------------------------------
    def is_parsed(self, module: str) -> bool:
        """Whether ``module`` was loaded already (:meth:`parsed` would not read it again)."""
        return module in self._parsed

    def parsed(self, module: str) -> ParsedModule | None:
        if module in self._parsed:
            return self._parsed[module]
        found = self._load(module)
        self._parsed[module] = found
        if self.freeze_loads:
            # Kept modules are many long-lived objects: left to the cyclic collector, every
            # later parse would pay for walking them all (it doubled parse time over the stdlib
            # corpus). Frozen objects are only freed by reference counting: ``invalidate``
            # breaks a dropped module's cycles. A long-running caller (the language server)
            # turns this off and freezes after its bulk load, so that garbage made between
            # edits is not frozen with the modules.
            gc.freeze()
        return found

    def _load(self, module: str) -> ParsedModule | None:
        file = self.files.get(module)
        if file is None:
            return None
        if module in self.overrides:
            text = self.overrides[module]
            data = text.encode("utf-8", "surrogatepass")
        else:
            try:
                data = safe_read.read_bytes(file.path)
                text = decode_source(data)
            except (OSError, ValueError):
                return None
        self._digests[module] = digest(data)
        # The modules this one imports are read first, so that the names it imports keep
        # their types (an imported lock is a lock); an import cycle just goes without.
        result = parse_module(text, file.shown)
        dependencies: set[str] = set()
        if result.tree is not None:
            targets = imported_targets(result.tree, module, is_package_path(file.shown))
            for target in targets:
                owner = self._owning_module(target)
                if owner is None:
                    continue
                dependencies.add(owner)
                # ``from pkg.api import router`` names a submodule *or* a name bound in the
                # package's ``__init__`` (an ``APIRouter``): the package is read too.
                package = owner.rpartition(".")[0]
                if owner == target and package in self.files:
                    dependencies.add(package)
            dependencies.discard(module)
        self._loading.add(module)
        try:
            ready = [
                p.facts
                for p in (self.parsed(m) for m in sorted(dependencies) if m not in self._loading)
                if p is not None and p.facts is not None
            ]
        finally:
            self._loading.discard(module)
        self._deps[module] = frozenset(dependencies)
        # What inference answers may depend on: this text and, transitively, what it imports
        # (a module still loading, in an import cycle, counts by its own content).
        self._import_keys[module] = digest(
            "\0".join(
                [self._digests[module]]
                + [
                    f"{m}={self._import_keys.get(m) or self._digests.get(m, '')}"
                    for m in sorted(dependencies)
                ]
            ).encode()
        )
        external = ExternalTypes.of(ready)
        parsed = parse_source(text, file.shown, module, external, result)
        if self.inference is not None:
            context = self._import_keys[module]
            parsed = refine(parsed, self.inference, file.path, module, external, context)
        return parsed

    def content_digest(self, module: str) -> str | None:
        self.parsed(module)
        return self._digests.get(module)

    def dependencies(self, module: str) -> frozenset[str]:
        """Workspace modules ``module`` imports directly."""
        self.parsed(module)  # computed while loading
        return self._deps.get(module, frozenset())

    def _owning_module(self, qualified: str) -> str | None:
        """``app.services.fetch`` -> ``app.services`` (the longest workspace module prefix)."""
        name = qualified
        while name:
            if name in self.files:
                return name
            name, _, _ = name.rpartition(".")
        return None

    def closure(self, module: str) -> list[str]:
        """``module`` and the workspace modules it imports, transitively (capped)."""
        order = [module]
        seen = {module}
        index = 0
        while index < len(order) and len(order) < MAX_CLOSURE:
            for dependency in sorted(self.dependencies(order[index])):
                if dependency not in seen:
                    seen.add(dependency)
                    order.append(dependency)
            index += 1
        return order[:MAX_CLOSURE]

    # -- analysis ------------------------------------------------------------------------------
    def analyze(self, module: str, options: AnalysisOptions) -> ModuleAnalysis | None:
        return self.analyze_many([module], options).get(module)

    def analyze_many(
        self, modules: Iterable[str], options: AnalysisOptions
    ) -> dict[str, ModuleAnalysis]:
        """Each module's findings, against one program made of every module loaded for them:
        program-wide summaries (who holds which lock, what blocks) are computed once."""
        wanted = [m for m in modules if self.parsed(m) is not None]
        closures = {m: self.closure(m) for m in wanted}
        in_program = dict.fromkeys(x for c in closures.values() for x in c)
        in_program.update(dict.fromkeys(self.constructing_modules(in_program)))
        loaded = [p for p in (self.parsed(m) for m in in_program) if p is not None]
        program = Program(
            [p.facts for p in loaded if p.facts is not None], options.extra_blocking_calls
        )
        targets = {m: self.parsed(m) for m in wanted}
        try:
            findings = analyze_parsed(
                [p for p in targets.values() if p is not None],
                options,
                targets={p.path for p in targets.values() if p is not None},
                program=program,
            )
        finally:  # the program typed call sites of the shared facts: put them back
            program.memo.clear()
            program.release()
        results: dict[str, ModuleAnalysis] = {}
        for module, parsed in targets.items():
            if parsed is None:
                continue
            # Modules whose constructor calls typed this module's attributes count too.
            constructed = sorted(program.constructor_sources.get(module, ()))
            closure = dict.fromkeys([*closures[module][1:], *constructed])
            others = [m for m in closure if m in self._digests and m != module]
            dependencies = {self.files[m].shown: self._digests[m] for m in others}
            results[module] = ModuleAnalysis(findings[parsed.path], dependencies)
        return results

    def constructing_modules(self, modules: Collection[str]) -> list[str]:
        """Workspace modules outside ``modules`` that may construct one of their classes whose
        ``__init__`` keeps an untyped parameter (``self._client = client``): what they pass
        types the attribute (see ``Program.constructor_types``), and they import the class, so
        they are not in its module's closure. Found by the class name in the file's text (a
        search for the name as a word; only the files that mention it are parsed)."""
        names: set[str] = set()
        for module in modules:
            parsed = self.parsed(module)
            if parsed is not None and parsed.facts is not None:
                names.update(_called_through_parameters(parsed.facts))
        if not names:
            return []
        chosen = set(modules)
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(names))) + r")\b")
        found: list[str] = []
        for module in sorted(self.files):
            if module in chosen or len(found) >= MAX_CLOSURE:
                continue
            if self._mentions(module, names, pattern) and self.parsed(module) is not None:
                found.append(module)
        return found

    def _mentions(self, module: str, names: set[str], pattern: re.Pattern[str]) -> bool:
        """Does ``module``'s current text have one of ``names`` as a word? A text in memory
        (the buffer, the parse) is searched; a file on disk is read once until it changes."""
        parsed = self._parsed.get(module)
        text = self.overrides.get(module, parsed.text if parsed is not None else None)
        if text is not None:
            return pattern.search(text) is not None
        words = self._words.get(module)
        if words is None:
            file = self.files.get(module)
            try:
                data = safe_read.read_bytes(file.path) if file is not None else b""
            except (OSError, ValueError):
                data = b""
            words = self._words[module] = _words(data.decode("utf-8", "replace"))
        return not names.isdisjoint(words)

    def set_text(self, module: str, text: str | None) -> set[str]:
        """Give ``module`` an editor's unsaved text (``None``: back to the file on disk).

        Returns the modules whose parse was dropped (empty when the text is what was already
        read): the module itself and, when what it exports changed, the importers whose facts
        used it.
        """
        if text is None:
            if self.overrides.pop(module, None) is None:
                return set()
            file = self.files.get(module)
            try:
                on_disk = digest(safe_read.read_bytes(file.path)) if file is not None else None
            except OSError:
                on_disk = None
            if on_disk is not None and on_disk == self._digests.get(module):
                return set()  # closed without unsaved changes
            return self.invalidate(module)
        if self.overrides.get(module) == text:
            return set()
        self.overrides[module] = text
        known = self._digests.get(module)
        if known is not None and known == digest(text.encode("utf-8", "surrogatepass")):
            return set()  # the editor opened the file as it is on disk
        return self.invalidate(module)

    def invalidate(self, module: str) -> set[str]:
        """Forget ``module`` (its text changed) and re-read it; when what it exports to its
        importers changed, they are forgotten too, transitively. Returns every module dropped."""
        dropped: set[str] = set()
        queue = [module]
        while queue:
            name = queue.pop()
            if name in dropped:
                continue
            self._words.pop(name, None)
            if name not in self._parsed:
                dropped.add(name)
                continue  # never loaded: nobody's facts used it
            importers = self.importers(name)
            old = self._parsed.pop(name)
            before = _exports(old)
            if old is not None:
                # Frozen objects (see ``parsed``) are never collected by the cycle collector:
                # unless its cycles are broken, a replaced parse would leak on every edit.
                old.release()
            self._digests.pop(name, None)
            self._deps.pop(name, None)
            self._import_keys.pop(name, None)
            dropped.add(name)
            if _exports(self.parsed(name)) != before:
                queue.extend(importers)
        return dropped

    def importers(self, module: str) -> set[str]:
        """Loaded modules that import ``module`` directly."""
        return {m for m, deps in self._deps.items() if module in deps}

    def dependents(self, module: str, among: Iterable[str]) -> set[str]:
        """Which of ``among`` are analysed with ``module`` in their program (their closure)."""
        return {m for m in among if m != module and module in self.closure(m)}

    def loaded(self) -> int:
        return sum(1 for parsed in self._parsed.values() if parsed is not None)


_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text))


def _called_through_parameters(facts: ModuleFacts) -> set[str]:
    """Names of this module's classes that call methods on an attribute their ``__init__``
    filled from an untyped parameter (``self._client.get_me()``): only their constructor
    calls elsewhere can type it."""
    names: set[str] = set()
    for fn in facts.functions.values():
        if fn.class_qualname is None or fn.scope.self_name is None:
            continue
        for call in fn.calls:
            func = call.node.func
            target = func.value if isinstance(func, ast.Attribute) else None
            if (
                call.receiver_type is None
                and isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == fn.scope.self_name
            ):
                owner = facts.attr_owner(fn.class_qualname, target.attr)
                cls = facts.classes.get(owner)
                if cls is not None and target.attr in cls.param_attrs:
                    names.add(cls.name)
    return names


def _exports(parsed: ParsedModule | None) -> object:
    """What importers' facts can take from a module: its global and class attribute types
    and its class names (see :class:`ExternalTypes`). When an edit leaves them unchanged, the
    importers' facts stay valid and need no re-parse."""
    facts = parsed.facts if parsed is not None else None
    if facts is None:
        return None
    external = ExternalTypes.of([facts])
    return (
        frozenset(external.types.items()),
        external.classes,
        frozenset(external.lock_classes.items()),
        frozenset(external.returns.items()),
        external.properties,
    )
