from django.contrib import admin

from django_site.catalog.models import Article, Author


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "status", "featured", "views", "created_at")
    list_filter = ("status", "featured", "created_at")
    search_fields = ("title", "slug")
    ordering = ("-created_at",)
    list_select_related = ("author",)


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")
