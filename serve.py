"""The cockpit's server: Streamlit serving app.py, plus the login cookie's routes and the security headers
(components/web.py). Started by `./cockpit run` as `streamlit run serve.py`; `streamlit run app.py` still works,
without the cookie (a refresh then asks for the password again)."""
import streamlit as st
from starlette.middleware import Middleware

from components.navigation import no_pages_folder
from components.web import SecurityHeaders, routes

no_pages_folder()
app = st.App("app.py", routes=routes(), middleware=[Middleware(SecurityHeaders)])
