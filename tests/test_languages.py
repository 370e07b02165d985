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
