"""Email opens and clicks end to end: the dispatcher signs the links of a real email (SMTP via
aiosmtpd), the member's mail client follows them over the API, and the events land once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, select

from nextbest.api.app import create_app
from nextbest.channels.dispatch import Dispatcher
from nextbest.channels.message import OutboundMessage
from nextbest.channels.smtp import SmtpAdapter
from nextbest.config import Settings
from nextbest.store import tables as t
from tests.channels.support import OPEN, Clock, SmtpSink, add_member, queue, smtp_server

PROMO = """subject: "New on the menu"
text: |
  Hi {{ member.first_name }}, see https://bb.test/menu
html: |
  <html><body><p>Hi {{ member.first_name }},
  <a href="https://bb.test/menu?from=mail&amp;m=1">see the menu</a></p></body></html>
"""


@pytest.fixture
def tracked(settings: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "promo.yaml").write_text(PROMO)
    return settings.model_copy(
        update={
            "tracking_base_url": "http://testserver",
            "tracking_secret": SecretStr("track-secret"),
            "channels_templates_dir": folder,
        }
    )


@pytest.fixture
def client(tracked: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(tracked, engine=engine), follow_redirects=False) as test_client:
        yield test_client


def _events(engine: Engine, kind: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [
            (r.event_id, r.payload)
            for r in conn.execute(
                select(t.events.c.event_id, t.events.c.payload).where(t.events.c.type == kind)
            )
        ]


def test_an_open_and_a_click_come_back_as_events_once(
    client: TestClient, engine: Engine, tracked: Settings
) -> None:
    member = add_member(engine, tracked, "T1", consents={"email/marketing": True})
    queue(engine, OutboundMessage("promo-1", member, "email", "promo", purpose="marketing"))
    sink = SmtpSink()
    with smtp_server(sink) as port:
        smtp = SmtpAdapter(host="127.0.0.1", port=port, sender="Bean & Bake <r@bb.test>")
        dispatcher = Dispatcher(
            engine, tracked, adapters={"email": smtp}, policy=OPEN, clock=Clock()
        )
        assert dispatcher.run_once().sent == 1
    [mail] = sink.messages()
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    [href] = [unescape(h) for h in re.findall(r'<a href="([^"]+)"', html)]
    [pixel] = [unescape(s) for s in re.findall(r'<img src="([^"]+)"', html)]
    assert href.startswith("http://testserver/v1/track/click?") and "bb.test" in href
    assert pixel.startswith("http://testserver/v1/track/open?")

    for _ in range(2):  # a mail client loading images twice records one open
        got = client.get(pixel)
        assert got.status_code == 200 and got.headers["content-type"] == "image/gif"
    [(open_id, payload)] = _events(engine, "message_opened")
    assert open_id == "opened:promo-1" and '"message_id":"promo-1"' in payload

    went = client.get(href)
    assert went.status_code == 302
    assert went.headers["location"] == "https://bb.test/menu?from=mail&m=1"
    client.get(href)
    [(_click_id, clicked)] = _events(engine, "message_clicked")
    assert '"url":"https://bb.test/menu?from=mail&m=1"' in clicked

    # A link pointed elsewhere, or a signature for another message, is refused: no redirect.
    forged = href.replace("bb.test%2Fmenu", "evil.test%2Fmenu")
    assert client.get(forged).status_code == 404
    other = pixel.replace("m=promo-1", "m=promo-2")
    assert client.get(other).status_code == 404
    assert len(_events(engine, "message_clicked")) == 1
    assert len(_events(engine, "message_opened")) == 1


def test_without_tracking_settings_an_email_is_left_as_written(
    engine: Engine, tracked: Settings
) -> None:
    plain = tracked.model_copy(update={"tracking_base_url": None})
    member = add_member(engine, plain, "T2", consents={"email/marketing": True})
    queue(engine, OutboundMessage("promo-2", member, "email", "promo", purpose="marketing"))
    sink = SmtpSink()
    with smtp_server(sink) as port:
        smtp = SmtpAdapter(host="127.0.0.1", port=port, sender="Bean & Bake <r@bb.test>")
        Dispatcher(engine, plain, adapters={"email": smtp}, policy=OPEN, clock=Clock()).run_once()
    [mail] = sink.messages()
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert 'href="https://bb.test/menu?from=mail&amp;m=1"' in html and "<img" not in html
