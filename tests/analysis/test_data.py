"""RH502-RH507: the Django ORM in async code, thread-insensitive ORM wrappers, Celery tasks in
transactions and waiting on tasks, shared ``AsyncSession`` objects and lazy loads under
asyncio — the edges the fixtures do not show, and calls followed across modules."""

from __future__ import annotations

import textwrap

from riskhints.analysis import (
    AnalysisOptions,
    Finding,
    analyze_parsed,
    analyze_source,
    parse_source,
)


def _findings(source: str, rule: str, path: str = "app/views.py") -> list[Finding]:
    return [f for f in analyze_source(textwrap.dedent(source), path) if f.rule == rule]


def _lines(source: str, rule: str) -> list[int]:
    return sorted(f.span.line for f in _findings(source, rule))


def _program(files: dict[str, str]) -> dict[str, list[Finding]]:
    parsed = [parse_source(textwrap.dedent(text), path) for path, text in files.items()]
    return analyze_parsed(parsed, AnalysisOptions())


# -- RH502 ---------------------------------------------------------------------------------


def test_lazy_queryset_construction_alone_is_not_a_query() -> None:
    source = """
        from django.http import JsonResponse
        from .models import Order
        async def view(request):
            qs = Order.objects.filter(open=True).exclude(total=0).order_by("-id")[:10]
            return JsonResponse({"n": await qs.acount()})
    """
    assert _lines(source, "RH502") == []


def test_each_evaluation_of_a_queryset_name_is_reported() -> None:
    source = """
        from django.http import JsonResponse
        from .models import Order
        async def view(request):
            qs = Order.objects.filter(open=True)
            recent = qs.order_by("-id")
            ids = [o.pk for o in recent]
            total = sum(o.total for o in qs)
            return JsonResponse({"ids": ids, "n": recent.count(), "t": total})
    """
    assert _lines(source, "RH502") == [7, 8, 9]


def test_a_name_rebound_to_something_else_is_not_a_queryset() -> None:
    source = """
        from asgiref.sync import sync_to_async
        from .models import Order
        async def view(request):
            orders = Order.objects.filter(open=True)
            orders = await sync_to_async(list)(orders)
            return len(orders)
    """
    assert _lines(source, "RH502") == []


def test_module_without_django_imports_is_not_checked() -> None:
    source = """
        class Registry:
            objects = {}
        async def lookup(request, key):
            return Registry.objects.get(key)
    """
    assert _lines(source, "RH502") == []


def test_async_unsafe_opt_out_silences_the_module() -> None:
    source = """
        import os
        from .models import Order
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        async def main():
            return Order.objects.count()
    """
    assert _lines(source, "RH502") == []


def test_related_managers_of_loaded_instances_query_when_evaluated() -> None:
    source = """
        from django.db import models
        class Tag(models.Model):
            name = models.CharField(max_length=20)
        class Post(models.Model):
            tags = models.ManyToManyField(Tag)
        async def view(request, pk):
            post = await Post.objects.aget(pk=pk)
            names = [t.name for t in post.tags.all()]
            comments = post.comment_set.count()
            return names, comments
    """
    assert _lines(source, "RH502") == [9, 10]


def test_orm_helper_in_another_module_is_followed_with_its_chain() -> None:
    results = _program(
        {
            "shop/services.py": """
                from shop.models import Order
                def open_orders(customer_id):
                    return list(Order.objects.filter(customer_id=customer_id))
            """,
            "shop/views.py": """
                from django.http import JsonResponse
                from shop.services import open_orders
                async def orders(request):
                    return JsonResponse({"orders": open_orders(request.GET["customer"])})
            """,
        }
    )
    (finding,) = [f for f in results["shop/views.py"] if f.rule == "RH502"]
    assert finding.span.line == 5
    assert "open_orders" in finding.message
    assert [hop.path for hop in finding.evidence] == [None, "shop/services.py"]


def test_message_names_the_entry_point_kind() -> None:
    source = """
        from channels.generic.websocket import AsyncWebsocketConsumer
        from .models import Room
        class Chat(AsyncWebsocketConsumer):
            async def connect(self):
                Room.objects.create(name="x")
    """
    (finding,) = _findings(source, "RH502")
    assert "async consumer method `Chat.connect`" in finding.message
    assert "acreate" in finding.message


# -- RH503 ---------------------------------------------------------------------------------


def test_thread_sensitive_true_and_non_orm_targets_are_silent() -> None:
    source = """
        from asgiref.sync import sync_to_async
        from .models import Order
        def count():
            return Order.objects.count()
        def digest(data):
            return hash(data)
        async def view(request):
            await sync_to_async(count, thread_sensitive=True)()
            await sync_to_async(digest, thread_sensitive=False)(b"x")
    """
    assert _lines(source, "RH503") == []


def test_thread_insensitive_wrapper_reports_the_query_in_evidence() -> None:
    source = """
        from asgiref.sync import sync_to_async
        from .models import Order
        def count():
            return Order.objects.count()
        async def view(request):
            return await sync_to_async(count, thread_sensitive=False)()
    """
    (finding,) = _findings(source, "RH503")
    assert finding.span.line == 7
    assert [hop.span.line for hop in finding.evidence] == [7, 5]


# -- RH504 ---------------------------------------------------------------------------------


def test_enqueue_in_a_helper_module_is_followed_into_the_transaction() -> None:
    results = _program(
        {
            "billing/notify.py": """
                from billing.tasks import email_invoice
                def notify(invoice):
                    email_invoice.delay(invoice.pk)
            """,
            "billing/services.py": """
                from django.db import transaction
                from billing.models import Invoice
                from billing.notify import notify
                def issue(amount):
                    with transaction.atomic():
                        invoice = Invoice.objects.create(amount=amount)
                        notify(invoice)
                    notify(invoice)
            """,
        }
    )
    lines = [f.span.line for f in results["billing/services.py"] if f.rule == "RH504"]
    assert lines == [8]


def test_on_commit_callbacks_and_nested_functions_are_after_the_commit() -> None:
    source = """
        from django.db import transaction
        from .tasks import ping
        def save():
            with transaction.atomic():
                def later():
                    ping.delay()
                transaction.on_commit(later)
                transaction.on_commit(lambda: ping.apply_async())
                ping.delay_on_commit()
    """
    assert _lines(source, "RH504") == []


# -- RH505 ---------------------------------------------------------------------------------


def test_gather_over_different_sessions_is_fine() -> None:
    source = """
        import asyncio
        from sqlalchemy import select
        from sqlalchemy.ext.asyncio import async_sessionmaker
        Session = async_sessionmaker()
        async def both(stmt_a, stmt_b):
            async with Session() as a, Session() as b:
                return await asyncio.gather(a.execute(stmt_a), b.execute(stmt_b))
    """
    assert _lines(source, "RH505") == []


def test_session_attribute_typed_on_the_instance_is_tracked() -> None:
    source = """
        import asyncio
        from sqlalchemy.ext.asyncio import AsyncSession
        class Repo:
            def __init__(self, session: AsyncSession) -> None:
                self.session = session
            async def load(self, a, b):
                return await asyncio.gather(self.session.get(a, 1), self.session.get(b, 2))
    """
    assert _lines(source, "RH505") == [8]


def test_module_level_factory_and_unused_session_are_not_reported() -> None:
    source = """
        from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
        Session = async_sessionmaker()
        legacy = Session()
        async def handler():
            async with Session() as session:
                await session.commit()
    """
    assert _lines(source, "RH505") == []


# -- RH506 ---------------------------------------------------------------------------------


def test_raise_strategy_and_wildcard_options_are_silent() -> None:
    source = """
        from sqlalchemy import select
        from sqlalchemy.orm import DeclarativeBase, relationship, selectinload
        class Base(DeclarativeBase):
            pass
        class Order(Base):
            items = relationship("Item", lazy="raise")
            notes = relationship("Note")
        async def load(session, oid):
            order = (await session.execute(select(Order).options(selectinload("*")))).scalar_one()
            other = await session.get(Order, oid)
            return order.notes, other.items
    """
    assert _lines(source, "RH506") == []


def test_relationship_inherited_from_a_local_base_is_known() -> None:
    source = """
        from sqlalchemy.orm import DeclarativeBase, relationship
        class Base(DeclarativeBase):
            pass
        class Owned(Base):
            __abstract__ = True
            owner = relationship("User")
        class Doc(Owned):
            pass
        async def owner_name(session, doc_id):
            doc = await session.get(Doc, doc_id)
            return doc.owner.name
    """
    (finding,) = _findings(source, "RH506")
    assert finding.span.line == 12
    assert "`Doc.owner`" in finding.message


def test_sync_session_get_is_not_an_async_result() -> None:
    source = """
        from sqlalchemy.orm import DeclarativeBase, relationship
        class Base(DeclarativeBase):
            pass
        class Doc(Base):
            owner = relationship("User")
        async def owner_name(session, doc_id):
            doc = session.get(Doc, doc_id)
            return doc.owner.name
    """
    assert _lines(source, "RH506") == []


# -- RH507 ---------------------------------------------------------------------------------


def test_get_on_dicts_and_outside_tasks_is_silent() -> None:
    source = """
        from celery import shared_task
        @shared_task
        def child(x):
            return x
        @shared_task
        def parent(options):
            child.delay(options.get("x"))
            return {"a": 1}.get("a")
        def script():
            return child.delay(1).get()
    """
    assert _lines(source, "RH507") == []


def test_app_task_decorator_with_arguments_and_apply_async_wait() -> None:
    source = """
        from celery import Celery
        app = Celery("x")
        @app.task(bind=True)
        def parent(self, n):
            handle = child.apply_async(args=[n])
            handle.wait()
            return handle.get(disable_sync_subtasks=False)
        @app.task
        def child(n):
            return n
    """
    findings = _findings(source, "RH507", "app/tasks.py")
    assert [f.span.line for f in findings] == [7, 8]
    assert "disable_sync_subtasks=False" in findings[1].message
