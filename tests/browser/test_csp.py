"""The app and /docs under their Content-Security-Policy (no bypass): using them reports no violation, while
an inline script is refused (so a violation would be seen)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import User, expect, open_app

pytestmark = pytest.mark.browser

# Runs before any script of the page (Playwright's init scripts are not subject to the page's policy).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}`);
});
"""


def _watched(new_context: Any, **options: Any) -> tuple[Any, list[str]]:
    context = new_context(bypass_csp=False, **options)
    context.add_init_script(WATCH)
    reported: list[str] = []
    context.on(
        "console",
        lambda message: reported.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return context, reported


def _violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__violations"))


def test_using_the_app_and_docs_reports_no_violation(new_context: Any, user: User) -> None:
    context, reported = _watched(new_context, as_user=user)
    page = open_app(context)
    box = page.get_by_label("Quick add")
    box.fill("Water the plants tomorrow 9am #home remind 10m before")
    box.press("Enter")
    expect(page.locator("#task-list .task")).to_have_count(1)
    page.locator("#task-list .task-title").first.click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    assert _violations(page) == []

    docs = context.new_page()
    docs.goto("/docs")
    # Swagger UI 5 started from its files, read the OpenAPI 3.1 document and shows every operation.
    expect(docs.locator("#swagger-ui .swagger-ui")).to_be_attached()
    expect(docs.locator(".opblock-summary-path", has_text="/api/v1/tasks/{task_id}/complete")).to_have_count(
        1
    )
    schema = docs.request.get("/openapi.json").json()
    operations = {(method.upper(), path) for path, methods in schema["paths"].items() for method in methods}
    shown = docs.locator(".opblock-summary").evaluate_all(
        "blocks => blocks.map(b => [b.querySelector('.opblock-summary-method').textContent,"
        " b.querySelector('.opblock-summary-path').dataset.path])"
    )
    assert {tuple(pair) for pair in shown} == operations  # an operation under two tags shows twice
    expect(docs.get_by_text("Unable to render this definition")).to_have_count(0)
    docs.wait_for_load_state("networkidle")
    assert _violations(docs) == []
    assert reported == []


def test_an_inline_script_is_refused_and_reported(new_context: Any) -> None:
    context, _ = _watched(new_context)
    page = context.new_page()
    page.goto("/")
    page.wait_for_load_state("load")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
        " document.body.append(s); }"
    )
    page.wait_for_function("() => window.__violations.length > 0", timeout=5_000)
    assert page.evaluate("typeof window.__ran") == "undefined"
    assert any("script-src" in v for v in _violations(page)), _violations(page)
