"""Tables of the book-insight service."""

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SourceCache(Base):
    __tablename__ = "external_source_cache"

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("books.id"))
    source: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str]
