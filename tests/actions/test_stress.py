"""Stress-test generation (riskhints.actions.stress): the entry point chosen from the finding
(the top of the chain, both sides of an inversion, the decorator's wrapper, the context manager
entered), fakes for what cannot be inferred, the shared harness written once, factories reused
and never redefined, nothing overwritten, nothing written outside the workspace, and the CLI's
FILE:FUNCTION and FILE:LINE."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from riskhints.actions.stress import (
    HARNESS_FILE,
    HARNESS_VERSION,
    StressError,
    find_target,
    generate_stress_test,
    harness_text,
    has_oracle,
    import_name_for,
    stress_target_at,
    workspace_root,
    write_stress_test,
)
from riskhints.analysis import analyze_source
from riskhints.analysis.knowledge.blocking import BLOCKING_CALLS
from riskhints.cli import main
from riskhints.config import ConfigError, parse_settings


def _source(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _generate(text: str, target: str | int, path: str = "shop/rates.py") -> str:
    text = _source(text)
    return generate_stress_test(text, path, target, analyze_source(text, path)).text


def _tests_part(generated: str) -> str:
    return generated.split("# == FAKES", 1)[1]


RATES = _source(
    """
    import asyncio


    class RateCache:
        def __init__(self, client, ttl_s: float = 60.0) -> None:
            self.client = client
            self._cache = {}

        async def rate(self, pair):
            if pair not in self._cache:
                self._cache[pair] = await self.client.fetch_rate(pair)
            return self._cache[pair]


    async def quote_all(cache: RateCache, pairs):
        return await asyncio.gather(*(cache.rate(pair) for pair in pairs))
    """
)


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "shop-root"
    (root / "shop").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    module = root / "shop" / "rates.py"
    module.write_text(RATES, encoding="utf-8")
    return root, module


def _ruff_clean(tmp_path: Path, text: str) -> None:
    generated = tmp_path / "test_generated.py"
    generated.write_text(text, encoding="utf-8")
    common = ["--isolated", "--line-length", "100", "--target-version", "py310"]
    ruff = [sys.executable, "-m", "ruff"]
    check = subprocess.run(
        [*ruff, "check", *common, "--select", "E,F,B", str(generated)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout


# -- entry points and fakes ----------------------------------------------------------------------


def test_unannotated_collaborators_and_arguments_get_fakes_in_one_marked_place() -> None:
    text = _generate(RATES, "RateCache.rate")
    tests = _tests_part(text)
    assert 'MODULE = "shop.rates"' in text
    assert "def make_rate_cache(stress: rh.Stress) -> Any:" in tests
    assert 'client=stress.fake("client")' in tests and "ttl_s" not in tests
    assert 'touched={"_cache": "dict", "client": "fake"}' in tests
    assert 'return {"pair": stress.fake("pair")}' in tests
    # The check-then-act: the awaited call is probed on the shared instance's collaborator.
    assert 'probe = stress.probe(rate_cache.client, "fetch_rate")' in tests
    assert "stress.expect_one_at_a_time(\n" in tests
    assert 'probe, lambda: rate_cache.rate(**rate_args), state="self._cache"' in tests


def test_generated_file_is_lint_clean(tmp_path: Path) -> None:
    _ruff_clean(tmp_path, _generate(RATES, "RateCache.rate"))


def test_a_line_chooses_the_finding_there_and_an_inversion_runs_both_paths() -> None:
    locks = _source(
        """
        import threading

        accounts_lock = threading.Lock()
        ledger_lock = threading.Lock()


        def transfer(source, target, cents):
            with accounts_lock:
                with ledger_lock:
                    source.debit(cents)


        def audit(report):
            with ledger_lock:
                with accounts_lock:
                    report.add("ok")
        """
    )
    findings = analyze_source(locks, "bank/ledger.py")
    [inversion] = [f for f in findings if f.rule == "RH204"]
    text = generate_stress_test(locks, "bank/ledger.py", inversion.span.line, findings).text
    tests = _tests_part(text)
    assert "stress.expect_no_deadlock(" in tests and "threads=True" in tests
    assert "target.audit(**audit_args)" in tests and "target.transfer(**transfer_args)" in tests


def test_a_nested_function_is_reached_through_the_decorated_function() -> None:
    text = _generate(
        """
        import functools
        import time


        def retried(fn):
            @functools.wraps(fn)
            async def wrapper(*args, **kwargs):
                for _ in range(3):
                    try:
                        return await fn(*args, **kwargs)
                    except ConnectionError:
                        time.sleep(0.5)

            return wrapper


        @retried
        async def push(client, event):
            return await client.send(event)
        """,
        "retried.<locals>.wrapper",
        "shop/push.py",
    )
    assert "stress.expect_loop_not_blocked(lambda: target.push(**push_args))" in text


def test_a_decorator_without_users_wraps_a_fake_and_a_context_manager_is_entered() -> None:
    text = _generate(
        """
        import contextlib
        import functools
        import time


        def throttled(fn):
            @functools.wraps(fn)
            async def wrapper(*args, **kwargs):
                time.sleep(0.1)
                return await fn(*args, **kwargs)

            return wrapper


        @contextlib.asynccontextmanager
        async def checkout(pool):
            conn = pool.getconn()
            time.sleep(0.1)
            yield conn
        """,
        "throttled",
        "shop/util.py",
    )
    assert 'wrapped = target.throttled(stress.fake_function("decorated", is_async=True))' in text
    text = _generate(text.split("# == FAKES")[0] and RATES, "RateCache.rate")
    cm = _generate(
        """
        import contextlib
        import time


        @contextlib.asynccontextmanager
        async def checkout(pool):
            time.sleep(0.1)
            yield pool
        """,
        "checkout",
        "shop/db.py",
    )
    assert "lambda: stress.enter(target.checkout(**checkout_args))" in cm


def test_fastapi_route_with_a_dependency_outside_the_chain() -> None:
    text = _generate(
        """
        import time

        from fastapi import Depends, FastAPI

        app = FastAPI()


        def get_repo():
            return object()


        @app.get("/items/{item_id}")
        async def item(item_id: int, verbose: bool = False, repo=Depends(get_repo)):
            time.sleep(0.2)
            return {"id": item_id}
        """,
        "item",
        "shop/api.py",
    )
    assert "app = target.app" in text
    assert 'app.dependency_overrides[target.get_repo] = lambda: stress.fake("repo")' in text
    assert 'stress.request(app, "GET", "/items/1")' in text


def test_a_pydantic_request_model_gets_a_json_body() -> None:
    text = _generate(
        """
        import asyncio

        from fastapi import FastAPI
        from pydantic import BaseModel

        app = FastAPI()


        class SignUp(BaseModel):
            email: str
            age: int
            newsletter: bool = False


        @app.post("/signups")
        async def sign_up(form: SignUp):
            asyncio.create_task(asyncio.sleep(1))
            return {}
        """,
        "sign_up",
        "shop/api.py",
    )
    assert (
        'stress.request(app, "POST", "/signups", json_body={"email": "stress", "age": 1})' in text
    )


def test_aiohttp_handlers_run_through_their_app() -> None:
    routes = _generate(
        """
        import aiohttp
        from aiohttp import web

        routes = web.RouteTableDef()


        @routes.get("/forecast/{city}")
        async def forecast(request):
            async with aiohttp.ClientSession() as session:
                await session.get("https://upstream.example")
            return web.json_response({})


        def create_app():
            app = web.Application()
            app.add_routes(routes)
            return app


        app = create_app()
        """,
        "forecast",
        "weather/web.py",
    )
    assert "app = target.app" in routes
    assert "stress.expect_one_client_session(\n            target.aiohttp," in routes
    assert 'lambda: stress.aiohttp_request(app, "GET", "/forecast/1")' in routes
    registered = _generate(
        """
        import time

        from aiohttp import web


        async def upload(request):
            time.sleep(1)
            return web.json_response({})


        def build_app():
            app = web.Application()
            app.router.add_post("/uploads", upload)
            return app
        """,
        "upload",
        "intake/handlers.py",
    )
    assert "app = target.build_app()" in registered
    assert 'stress.aiohttp_request(app, "POST", "/uploads")' in registered


def test_django_views_get_a_request_and_celery_tasks_are_applied_eagerly() -> None:
    view = _generate(
        """
        import time

        from django.http import JsonResponse


        async def article(request, slug):
            time.sleep(1)
            return JsonResponse({"slug": slug})
        """,
        "article",
        "news/views.py",
    )
    assert 'stress.django_request(target.article, "GET", "/article/", "slug-1")' in view
    task = _generate(
        """
        import asyncio

        from celery import shared_task


        async def notify(user):
            await asyncio.sleep(0)


        @shared_task(bind=True)
        def send_digest(self, user):
            notify(user)
        """,
        "send_digest",
        "mail/tasks.py",
    )
    assert "stress.celery_task(target.send_digest, **send_digest_args)" in task
    assert 'return {"user": stress.fake("user")}' in task
    assert ", threads=True" in task


def test_targets_by_name_and_by_line_and_where_the_action_is_offered() -> None:
    assert find_target(RATES, "RateCache.rate") == ("RateCache.rate", 9)
    assert find_target(RATES, 11) == ("RateCache.rate", 9)
    findings = analyze_source(RATES, "shop/rates.py")
    assert stress_target_at(RATES, 11, findings) == "RateCache.rate"
    assert stress_target_at(RATES, 4, findings) is None  # __init__: no coroutine, no finding
    assert has_oracle("RH203") and has_oracle("RH303") and not has_oracle("RH504")
    with pytest.raises(StressError, match="no function or method `missing`"):
        generate_stress_test(RATES, "shop/rates.py", "missing", findings)
    assert import_name_for("src/shop/rates.py") == ("shop.rates", "src")
    with pytest.raises(StressError, match="cannot be imported by a dotted name"):
        import_name_for("my-app/rates.py")


# -- the harness and writing ---------------------------------------------------------------------


def test_harness_has_the_blocking_apis_of_the_knowledge_tables() -> None:
    text = harness_text()
    assert "# __BLOCKING_APIS__" not in text
    for name in ("time.sleep", "requests.Session.get", "builtins.open", "socket.getaddrinfo"):
        assert f'"{name}": "{BLOCKING_CALLS[name].what}"' in text
    compile(text, HARNESS_FILE, "exec")


def test_harness_written_once_and_factories_never_redefined(tmp_path: Path) -> None:
    root, module = _workspace(tmp_path)
    findings = analyze_source(RATES, "shop/rates.py")
    first = write_stress_test(module, RATES, "RateCache.rate", findings, root, "tests/stress")
    assert first.harness_created and first.harness.name == HARNESS_FILE
    assert not first.appended and first.rule == "RH401"
    # The user fills in a fake; a second test of the same module must keep it.
    filled = first.path.read_text().replace('client=stress.fake("client")', "client=RealClient()")
    first.path.write_text(filled)
    harness = first.harness.read_text()
    first.harness.write_text(harness + "# the user's note\n")
    second = write_stress_test(module, RATES, "quote_all", findings, root, "tests/stress")
    assert second.appended and not second.harness_created
    text = second.path.read_text()
    assert text.startswith(filled) and text.count("def make_rate_cache(") == 1
    assert "client=RealClient()" in text
    assert second.harness.read_text().endswith("# the user's note\n")
    again = write_stress_test(module, RATES, "RateCache.rate", findings, root, "tests/stress")
    assert again.test_name == "test_rate_check_then_act_2"


def test_an_older_harness_is_replaced_by_this_version_and_no_other_file(tmp_path: Path) -> None:
    root, module = _workspace(tmp_path)
    folder = root / "tests" / "stress"
    folder.mkdir(parents=True)
    harness = folder / HARNESS_FILE
    current = harness_text()
    version = f"riskhints-stress-harness: {HARNESS_VERSION})"
    older = current.replace(version, f"riskhints-stress-harness: {HARNESS_VERSION - 1})", 1)
    assert older != current and f"\nHARNESS_VERSION = {HARNESS_VERSION}\n" in current
    harness.write_text(older)
    written = write_stress_test(module, RATES, "RateCache.rate", [], root, "tests/stress")
    assert written.harness_updated and not written.harness_created
    assert harness.read_text() == current
    assert sorted(p.name for p in folder.iterdir()) == [HARNESS_FILE, "test_stress_rates.py"]
    # A harness of this version, or a file that is not ours, is left as it is.
    harness.write_text(current + "# the user's note\n")
    again = write_stress_test(module, RATES, "quote_all", [], root, "tests/stress")
    assert not again.harness_updated and harness.read_text().endswith("# the user's note\n")
    harness.write_text("# my own helpers\n")
    write_stress_test(module, RATES, "RateCache.rate", [], root, "tests/stress")
    assert harness.read_text() == "# my own helpers\n"


def test_never_writes_outside_the_workspace(tmp_path: Path) -> None:
    root, module = _workspace(tmp_path)
    for folder in ("../outside", "/tmp/stress-elsewhere"):
        with pytest.raises(StressError, match="inside the workspace|outside the workspace"):
            write_stress_test(module, RATES, "RateCache.rate", [], root, folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "tests").mkdir()
    (root / "tests" / "stress").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StressError, match="leads outside the workspace"):
        write_stress_test(module, RATES, "RateCache.rate", [], root, "tests/stress")
    assert list(outside.iterdir()) == []
    with pytest.raises(StressError, match="loose.py is not inside the workspace"):
        write_stress_test(tmp_path / "loose.py", RATES, "rate", [], root, "tests/stress")


def test_a_symlinked_harness_is_not_followed(tmp_path: Path) -> None:
    root, module = _workspace(tmp_path)
    folder = root / "tests" / "stress"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.py"
    (folder / HARNESS_FILE).symlink_to(elsewhere)
    with pytest.raises(StressError, match="leads outside the workspace"):
        write_stress_test(module, RATES, "RateCache.rate", [], root, "tests/stress")
    assert not elsewhere.exists()


def test_workspace_root_is_the_folder_else_the_git_root_else_the_fallback(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "app").mkdir()
    file = repo / "app" / "x.py"
    assert workspace_root(file, folder=repo / "app") == (repo / "app").resolve()
    assert workspace_root(file) == repo.resolve()
    loose = tmp_path / "loose" / "x.py"
    assert workspace_root(loose, fallback=tmp_path) == tmp_path.resolve()
    with pytest.raises(StressError, match="not inside a workspace folder or a git repository"):
        workspace_root(loose, fallback=repo)


def test_stress_test_dir_setting_is_validated() -> None:
    assert parse_settings({"stressTestDir": "tests/load/"}, "x").stress_test_dir == "tests/load"
    for bad in ("../elsewhere", "/abs", "", 3):
        with pytest.raises(ConfigError, match="'stress-test-dir' must be a folder inside"):
            parse_settings({"stress-test-dir": bad}, "x")


def test_cli_file_function_and_file_line_write_the_same_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, module = _workspace(tmp_path)
    (root / "pyproject.toml").write_text("[tool.riskhints]\nstress-test-dir = 'tests/load'\n")
    monkeypatch.chdir(root)
    assert main(["stress", "shop/rates.py:RateCache.rate"]) == 0
    out, err = capsys.readouterr()
    assert out == "tests/load/test_stress_rates.py\n"
    assert "run it with: python -m pytest tests/load/test_stress_rates.py" in err
    assert "the shared harness is tests/load/_riskhints_stress.py" in err
    by_name = (root / out.strip()).read_text()
    [finding] = analyze_source(RATES, "shop/rates.py")
    assert main(["stress", f"shop/rates.py:{finding.span.line}"]) == 0
    assert "test_rate_check_then_act_2 appended to" in capsys.readouterr().err
    text = (root / out.strip()).read_text()
    added = text[len(by_name) :]
    assert "def make_rate_cache" not in added  # the factory is reused
    by_line = added.split("def test_rate_check_then_act_2(", 1)[1]
    assert by_line.strip() == by_name.split("def test_rate_check_then_act(", 1)[1].strip()
    assert main(["stress", "shop/rates.py:nothing_here"]) == 2
