"""Every page for every role that sees it, in both languages, on a demo bank whose models are trained as a first
start trains them (``models.bootstrap``): the page tests on the shared demo bank mostly see "model missing", and a
model card that read a metric the training no longer writes (``valid_month``) broke Early warning in Chromium for
every role while AppTest stayed green."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from components.navigation import PAGES, pages_for
from data_access import demo, marts
from data_access.engine import make_engine
from data_access.migrate import upgrade
from tests.appenv import app_on
from tests.rendered import findings
from tests.test_app import APP, ROLES_USERS, session_token

ROLE_OF = {u: r for r, u in ROLES_USERS.items()}
CASES = [(role, p.key, p.path) for role in ROLES_USERS for p in PAGES if role in p.roles]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from sqlalchemy import select
    from data_access import schema as s
    from models import bootstrap
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('trained') / 'cockpit.db'}")
    upgrade(engine)
    demo.generate(engine, size="tiny", seed=5, progress=False)
    marts.refresh(engine)
    bootstrap._train(engine, list(bootstrap.MODELS))
    with engine.connect() as conn:
        have = set(conn.execute(select(s.model_registry.c.name).where(s.model_registry.c.active)).scalars())
    assert set(bootstrap.MODELS) <= have, have  # the premise: every model is there
    with app_on(engine):
        with engine.connect() as conn:
            logins = set(conn.execute(select(s.app_user.c.username)).scalars())
        yield engine, logins
    engine.dispose()


def _open(username: str, path: str, lang: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["session_token"] = session_token(username)
    at.session_state["lang"] = lang
    at.run()
    if path != pages_for(ROLE_OF[username])[0].path:
        at.switch_page(path).run()
    return at


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("role,key,path", CASES, ids=[f"{r}-{k}" for r, k, _ in CASES])
def test_page_with_models_trained(trained, role, key, path, lang):
    _, logins = trained
    at = _open(ROLES_USERS[role], path, lang)
    assert not at.exception, at.exception
    assert not [e.value for e in at.error], [e.value for e in at.error]
    assert not findings(at, lang, logins, codes=key != "data_admin")
    if key == "early_warning":  # the model card, with its validation months in the reader's words
        card = " ".join(m.value for m in at.markdown)
        assert ("验证期" in card and "年" in card) if lang == "zh" else "out-of-time validation" in card
        assert ".." not in card
    if key == "strategy_lab":  # each simulator tab, opened as a user opens it
        for label in [tab.label for tab in at.tabs][1:]:
            at.session_state["lab_tab"] = label
            at.run()
            assert not at.exception, (label, at.exception)
            assert not [e.value for e in at.error], (label, [e.value for e in at.error])
            assert not findings(at, lang, logins), label
