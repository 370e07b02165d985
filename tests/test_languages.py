"""The product speaks the practice's language: a Moscow practice works in Russian."""


def test_a_russian_practice_sees_its_pages_in_russian(client, auth, make):
    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    make.user(practice, role="admin", email="admin@ulybka.example", full_name="Анна Админ")
    auth.login("admin@ulybka.example")
    page = client.get("/admin/").get_data(as_text=True)
    assert 'lang="ru"' in page
    assert "Выйти" in page and "Sign out" not in page


# One request per test: the tests' app context outlives a request, and Flask-Babel keeps the locale in it.
def test_the_sign_in_page_speaks_russian_to_a_russian_browser(client):
    assert "Войти" in client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).get_data(as_text=True)


def test_the_sign_in_page_speaks_english_to_an_english_browser(client):
    assert "Sign in" in client.get("/login", headers={"Accept-Language": "en-US"}).get_data(as_text=True)


def test_every_message_the_product_can_show_has_its_russian():
    """A sentence added in code or a template without its Russian would show up in English on a Russian page."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.pofile import read_po

    from tests.conftest import REPO_ROOT

    with open(REPO_ROOT / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    with open(REPO_ROOT / "outreach/translations/ru/LC_MESSAGES/messages.po", "rb") as po:
        russian = read_po(po)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None, "N_": None}
    missing = set()
    for folder in ("outreach", "templates"):
        for filename, _line, message, _comments, context in extract_from_dir(
                REPO_ROOT / folder, [(pattern.split("/", 1)[1], method) for pattern, method in method_map
                                     if pattern.startswith(folder + "/")], options_map, keywords=keywords):
            msgid = message if isinstance(message, str) else message[0]
            entry = russian.get(msgid, context=context)
            strings = [entry.string] if entry is not None and isinstance(entry.string, str) else (
                list(entry.string) if entry is not None else [""])
            if not all(strings):
                missing.add(f"{folder}/{filename}: {msgid}")
    assert not missing, "No Russian for:\n" + "\n".join(sorted(missing))
