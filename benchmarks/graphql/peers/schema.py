"""The schema every app serves, from memory (no database: the request path is measured):
books with their authors, a greeting, and one book by id."""

import strawberry


@strawberry.type
class Author:
    name: str
    born: int


@strawberry.type
class Book:
    id: int
    title: str
    year: int
    author: Author


AUTHORS = [Author(name=f"Author {i}", born=1900 + i) for i in range(5)]
BOOKS = [Book(id=i, title=f"Book {i}", year=1950 + i, author=AUTHORS[i % 5]) for i in range(1, 51)]
BY_ID = {b.id: b for b in BOOKS}


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, name: str = "world") -> str:
        return f"Hello, {name}!"

    @strawberry.field
    def books(self, first: int = 10) -> list[Book]:
        return BOOKS[: max(0, min(first, 50))]

    @strawberry.field
    def book(self, id: int) -> Book | None:
        return BY_ID.get(id)


schema = strawberry.Schema(query=Query)
