import pytest

from rondo.domain.slugs import ProjectSlug, SlugError


@pytest.mark.parametrize("text", ["gh/acme/app", "github/acme/app", "gh%2Facme%2Fapp", "/gh/acme/app/"])
def test_github_forms_are_one_project(text: str) -> None:
    slug = ProjectSlug.parse(text)
    assert (slug.short, slug.long, slug.org_slug, slug.vcs_type) == (
        "gh/acme/app",
        "github/acme/app",
        "gh/acme",
        "github",
    )


def test_bitbucket() -> None:
    assert ProjectSlug.parse("bitbucket/acme/app").short == "bb/acme/app"


@pytest.mark.parametrize("text", ["acme/app", "gh/acme", "svn/acme/app", "gh/../app", "gh/acme/app/x", "gh//app"])
def test_bad_slugs_say_what_is_expected(text: str) -> None:
    with pytest.raises(SlugError, match="slug"):
        ProjectSlug.parse(text)
