"""RH502-RH507 across files: models, relationships, session factories, Celery apps and tasks
defined in one module of a workspace and used in another, analysed the way the CLI and the
server do (through :class:`~riskhints.analysis.workspace.Workspace`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from riskhints.analysis import AnalysisOptions, Finding
from riskhints.analysis.workspace import Workspace


def analyze(root: Path, files: dict[str, str], target: str, rule: str) -> list[Finding]:
    """Write a small project under ``root`` and return ``rule``'s findings in ``target``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    workspace = Workspace.from_paths(
        [root / name for name in files], root, {root / name: name for name in files}
    )
    module = workspace.module_for(root / target)
    assert module is not None
    analysis = workspace.analyze(module, AnalysisOptions())
    assert analysis is not None
    return [f for f in analysis.findings if f.rule == rule]


def lines(findings: list[Finding]) -> list[int]:
    return sorted(f.span.line for f in findings)


def evidence_paths(finding: Finding) -> list[str | None]:
    return [hop.path for hop in finding.evidence]


# -- Django: RH502 / RH503 ------------------------------------------------------------------

DJANGO_MODELS = {
    "shop/__init__.py": "",
    "shop/common.py": """
        from django.db import models

        class TimeStampedModel(models.Model):
            updated = models.DateTimeField(auto_now=True)

            class Meta:
                abstract = True

            def touch(self) -> None:
                self.save(update_fields=["updated"])
    """,
    "shop/models.py": """
        from django.db import models

        from .common import TimeStampedModel

        class Tag(models.Model):
            name = models.CharField(max_length=40)

        class Order(TimeStampedModel):
            status = models.CharField(max_length=16)
            tags = models.ManyToManyField(Tag)

            def mark_paid(self) -> None:
                self.status = "paid"
                self.save(update_fields=["status"])

            def label(self) -> str:
                return f"#{self.pk} ({self.status})"
    """,
}


def test_model_methods_defined_in_models_py_are_followed_from_async_views(tmp_path: Path) -> None:
    files = {
        **DJANGO_MODELS,
        "shop/views.py": """
            from django.http import JsonResponse
            from .models import Order

            async def pay(request, order_id):
                order = await Order.objects.aget(pk=order_id)
                order.mark_paid()
                order.touch()
                return JsonResponse({"label": order.label()})
        """,
    }
    found = analyze(tmp_path, files, "shop/views.py", "RH502")
    assert lines(found) == [7, 8]
    paid, touched = sorted(found, key=lambda f: f.span.line)
    assert evidence_paths(paid) == [None, "shop/models.py"]
    assert "self.save(" in paid.evidence[-1].message
    # ``touch`` is inherited from the abstract base in common.py.
    assert evidence_paths(touched) == [None, "shop/common.py"]


def test_many_to_many_fields_and_module_attribute_models_come_from_models_py(
    tmp_path: Path,
) -> None:
    files = {
        **DJANGO_MODELS,
        "shop/views.py": """
            from django.http import JsonResponse
            from . import models

            async def tags(request, order_id):
                order = await models.Order.objects.aget(pk=order_id)
                names = [t.name for t in order.tags.all()]
                kept = [t.name async for t in order.tags.all()]
                count = models.Tag.objects.count()
                return JsonResponse({"names": names, "kept": kept, "count": count})
        """,
    }
    assert lines(analyze(tmp_path, files, "shop/views.py", "RH502")) == [7, 9]


def test_django_pack_is_active_through_an_imported_workspace_module(tmp_path: Path) -> None:
    services = """
        from .models import Order

        def paid_count() -> int:
            return Order.objects.filter(status="paid").count()
    """
    middleware = """
        from .services import paid_count

        class StatsMiddleware:
            async def __call__(self, request):
                request.paid = paid_count()
                return await self.get_response(request)
    """
    files = {**DJANGO_MODELS, "shop/services.py": services, "shop/middleware.py": middleware}
    found = analyze(tmp_path, files, "shop/middleware.py", "RH502")
    assert lines(found) == [6]
    assert evidence_paths(found[0]) == [None, "shop/services.py"]
    # The same shapes with no Django anywhere in the workspace: silent.
    plain = {
        "stats/__init__.py": "",
        "stats/store.py": """
            class Order:
                objects = {}
        """,
        "stats/services.py": services.replace(".models", ".store"),
        "stats/middleware.py": middleware,
    }
    assert analyze(tmp_path / "plain", plain, "stats/middleware.py", "RH502") == []


def test_thread_insensitive_wrapper_around_a_model_method(tmp_path: Path) -> None:
    files = {
        **DJANGO_MODELS,
        "shop/views.py": """
            from asgiref.sync import sync_to_async
            from .models import Order

            async def pay(request, order_id):
                order = await Order.objects.aget(pk=order_id)
                await sync_to_async(order.mark_paid, thread_sensitive=False)()
                await sync_to_async(order.label, thread_sensitive=False)()
        """,
    }
    found = analyze(tmp_path, files, "shop/views.py", "RH503")
    assert lines(found) == [7]
    assert evidence_paths(found[0])[-1] == "shop/models.py"


# -- Django transactions and Celery: RH504 ---------------------------------------------------

CELERY_APP = """
    from celery import Celery

    worker = Celery("shop")
"""


def test_task_of_the_workspace_app_enqueued_in_a_service_without_celery_imports(
    tmp_path: Path,
) -> None:
    files = {
        "shop/__init__.py": "",
        "shop/queue.py": CELERY_APP,
        "shop/billing.py": """
            from .queue import worker

            @worker.task(bind=True)
            def issue_refund(self, order_id: int) -> None:
                return None
        """,
        "shop/throttle.py": """
            class Backoff:
                def delay(self, attempt: int) -> float:
                    return 2.0**attempt

            backoff = Backoff()
        """,
        "shop/services.py": """
            from django.db import transaction
            from .billing import issue_refund
            from .queue import worker
            from .throttle import backoff

            def refund(order_id: int) -> None:
                with transaction.atomic():
                    issue_refund.delay(order_id)
                    worker.send_task("warehouse.release", args=[order_id])
        """,
        "shop/retries.py": """
            from django.db import transaction
            from .throttle import backoff

            def retry(attempt: int) -> float:
                with transaction.atomic():
                    return backoff.delay(attempt)
        """,
    }
    assert lines(analyze(tmp_path, files, "shop/services.py", "RH504")) == [9, 10]
    # ``.delay()`` on an object that is no task, in a module that uses no Celery: silent.
    assert analyze(tmp_path, files, "shop/retries.py", "RH504") == []


# -- Celery: RH507 ---------------------------------------------------------------------------

CELERY_PROJECT = {
    "reports/__init__.py": "",
    "reports/queue.py": CELERY_APP,
    "reports/charts.py": """
        from .queue import worker

        @worker.task
        def render_chart(report_id: int) -> str:
            return f"/tmp/{report_id}.svg"
    """,
    "reports/rendering.py": """
        from celery.result import AsyncResult
        from .charts import render_chart

        def start(report_id: int):
            return render_chart.delay(report_id)

        def start_annotated(report_id: int) -> AsyncResult:
            handle = render_chart.delay(report_id)
            return handle

        def start_id(report_id: int) -> str:
            return render_chart.delay(report_id).id
    """,
}


def test_task_waits_on_a_result_a_helper_of_another_module_returned(tmp_path: Path) -> None:
    files = {
        **CELERY_PROJECT,
        "reports/tasks.py": """
            from .queue import worker
            from .rendering import start, start_annotated, start_id

            @worker.task
            def summary(report_id: int) -> str:
                return start(report_id).get(timeout=60)

            @worker.task
            def trend(report_id: int) -> str:
                pending = start_annotated(report_id)
                return pending.wait()

            @worker.task
            def remember(report_id: int, store: dict) -> str:
                handle = start_id(report_id)
                return store.get(handle)
        """,
    }
    found = analyze(tmp_path, files, "reports/tasks.py", "RH507")
    assert lines(found) == [7, 12]
    for finding in found:
        assert evidence_paths(finding) == ["reports/rendering.py"]
    assert "returns the result of `render_chart.delay(report_id)`" in found[0].evidence[0].message


def test_waits_outside_tasks_and_helpers_called_from_scripts_stay_silent(tmp_path: Path) -> None:
    files = {
        **CELERY_PROJECT,
        "reports/cli.py": """
            from .rendering import start

            def main(report_id: int) -> str:
                return start(report_id).get(timeout=600)
        """,
    }
    assert analyze(tmp_path, files, "reports/cli.py", "RH507") == []


# -- SQLAlchemy asyncio: RH505 / RH506 -------------------------------------------------------

SQLA_PROJECT = {
    "app/__init__.py": "",
    "app/db.py": """
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

        engine = create_async_engine("postgresql+asyncpg://app@db/app")
        SessionLocal = async_sessionmaker(engine, expire_on_commit=False)
        shared: AsyncSession = SessionLocal()
    """,
    "app/models.py": """
        from sqlalchemy import ForeignKey
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

        class Base(DeclarativeBase):
            pass

        class Order(Base):
            __tablename__ = "orders"
            id: Mapped[int] = mapped_column(primary_key=True)
            items: Mapped[list["Item"]] = relationship(back_populates="order")

        class Item(Base):
            __tablename__ = "items"
            id: Mapped[int] = mapped_column(primary_key=True)
            order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
            order: Mapped[Order] = relationship(back_populates="items")
    """,
    "app/repositories.py": """
        from sqlalchemy import select
        from sqlalchemy.ext.asyncio import AsyncSession
        from sqlalchemy.orm import selectinload

        from .models import Order

        class Orders:
            def __init__(self, session: AsyncSession) -> None:
                self.session = session
                self.hits = 0

            async def get(self, order_id: int) -> Order | None:
                return await self.session.get(Order, order_id)

            async def get_full(self, order_id: int) -> Order | None:
                stmt = select(Order).where(Order.id == order_id).options(selectinload(Order.items))
                return (await self.session.execute(stmt)).scalar_one_or_none()

            async def maybe_full(self, order_id: int, full: bool) -> Order | None:
                if full:
                    return await self.get_full(order_id)
                return await self.session.get(Order, order_id)

            async def hit_count(self) -> int:
                return self.hits
    """,
}


def test_lazy_relationship_read_on_what_a_repository_returned(tmp_path: Path) -> None:
    files = {
        **SQLA_PROJECT,
        "app/api.py": """
            from sqlalchemy.ext.asyncio import AsyncSession
            from .repositories import Orders

            async def lazy(session: AsyncSession, order_id: int) -> int:
                order = await Orders(session).get(order_id)
                return len(order.items)

            async def eager(session: AsyncSession, order_id: int) -> int:
                order = await Orders(session).get_full(order_id)
                return len(order.items)

            async def either(session: AsyncSession, order_id: int, full: bool) -> int:
                order = await Orders(session).maybe_full(order_id, full)
                return len(order.items)

            async def refreshed(session: AsyncSession, order_id: int) -> int:
                order = await Orders(session).get(order_id)
                await session.refresh(order, ["items"])
                return len(order.items)

            async def after_refresh(session: AsyncSession, order_id: int) -> int:
                order = await Orders(session).get(order_id)
                return len(order.items)
        """,
    }
    found = analyze(tmp_path, files, "app/api.py", "RH506")
    # ``maybe_full`` is eager on one path only; a refresh in one caller changes no other.
    assert lines(found) == [7, 15, 24]
    assert evidence_paths(found[0]) == ["app/repositories.py", "app/models.py"]
    assert found[0].evidence[1].message == "Order.items loads lazily"


def test_sessions_from_a_factory_or_a_repository_of_another_module(tmp_path: Path) -> None:
    files = {
        **SQLA_PROJECT,
        "app/api.py": """
            import asyncio
            from .db import SessionLocal
            from .repositories import Orders

            async def both(a: int, b: int) -> list:
                async with SessionLocal() as session:
                    return await asyncio.gather(Orders(session).get(a), Orders(session).get(b))

            async def dashboard() -> tuple:
                async with SessionLocal() as session:
                    orders = Orders(session)
                    return await asyncio.gather(orders.get(1), orders.get_full(2))

            async def counters() -> tuple:
                async with SessionLocal() as session:
                    orders = Orders(session)
                    return await asyncio.gather(orders.hit_count(), orders.hit_count())
        """,
    }
    found = analyze(tmp_path, files, "app/api.py", "RH505")
    assert lines(found) == [8, 13]
    assert "`orders.session`" in found[1].message


def test_module_level_session_of_another_module_is_reported_where_it_is_imported(
    tmp_path: Path,
) -> None:
    files = {
        **SQLA_PROJECT,
        "app/legacy.py": """
            from sqlalchemy import text
            from .db import shared

            async def ping() -> None:
                await shared.execute(text("SELECT 1"))
        """,
        "app/jobs.py": """
            from . import db
            from sqlalchemy import text

            async def nightly() -> None:
                await db.shared.execute(text("VACUUM"))
        """,
    }
    found = analyze(tmp_path, files, "app/legacy.py", "RH505")
    assert lines(found) == [3]
    assert evidence_paths(found[0]) == ["app/db.py", None]
    assert lines(analyze(tmp_path, files, "app/jobs.py", "RH505")) == [6]
    # db.py creates it but uses it in no async code itself.
    assert analyze(tmp_path, files, "app/db.py", "RH505") == []
