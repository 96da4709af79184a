"""One look: fonts that render Chinese, risk colours, and the page's small CSS touches."""
from __future__ import annotations

FONT_STACK = ("'Noto Sans CJK SC', 'Source Han Sans SC', 'PingFang SC', 'Microsoft YaHei', "
              "'WenQuanYi Micro Hei', 'Helvetica Neue', Arial, sans-serif")
PRIMARY = "#1f5fa8"
GOOD = "#1a9850"
BAD = "#d73027"
NEUTRAL = "#6b7280"
# five categories and DPD buckets: from calm to alarming, the same everywhere
CLASS5_COLORS = {1: "#4daf4a", 2: "#fdd835", 3: "#fb8c00", 4: "#e53935", 5: "#7b1fa2"}
BUCKET_COLORS = {0: "#4daf4a", 1: "#fdd835", 2: "#fb8c00", 3: "#e53935", 4: "#7b1fa2"}
SERIES = ["#1f5fa8", "#e8793a", "#2a9d8f", "#9c6ade", "#c9a227", "#5c7080", "#d62f6f", "#6aa84f", "#8c564b",
          "#17becf"]

CSS = f"""
<style>
html, body, [class*="css"] {{ font-family: {FONT_STACK}; }}
.kpi-card {{ border: 1px solid #e5e7eb; border-radius: 10px; padding: 10px 14px; background: #ffffff;
            min-height: 112px; box-shadow: 0 1px 2px rgba(0,0,0,0.04); }}
.kpi-label {{ color: #4b5563; font-size: 0.85rem; margin-bottom: 2px; }}
.kpi-value {{ font-size: 1.55rem; font-weight: 650; color: #111827; line-height: 1.3; white-space: nowrap; }}
.kpi-delta {{ font-size: 0.8rem; margin-top: 4px; }}
.kpi-delta span {{ margin-right: 10px; white-space: nowrap; }}
.kpi-good {{ color: {GOOD}; }} .kpi-bad {{ color: {BAD}; }} .kpi-flat {{ color: {NEUTRAL}; }}
.user-badge {{ background: #eef4fb; border-radius: 8px; padding: 8px 10px; font-size: 0.9rem; line-height: 1.5; }}
.attention-item {{ border-left: 4px solid {BAD}; background: #fff7f5; padding: 6px 10px; margin-bottom: 6px;
                   border-radius: 4px; font-size: 0.92rem; }}
.attention-item.warn {{ border-left-color: #fb8c00; background: #fffaf0; }}
/* the static tables an agency sees (no export control) keep a date or a number on one line; the table scrolls */
[data-testid="stTable"] td, [data-testid="stTable"] td p {{ white-space: nowrap !important; }}
[data-testid="stTable"] {{ overflow-x: auto; }}
.attention-grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); column-gap: 10px; }}
.block-container {{ padding-top: 2.2rem; }}
/* every export goes through the audited download buttons: the grid's own CSV download is hidden */
button[aria-label="Download as CSV"] {{ display: none !important; }}
</style>
"""


def running_css(running: str, choose_files: str, drop_hint: str) -> str:
    """CSS for what Streamlit itself would show in English or not at all.

    - A running page: the toolbar setting (client.toolbarMode = "minimal", which keeps Streamlit's developer menu
      away from bank staff) also hides Streamlit's status widget, so a five-second page gave no sign of life. The
      app root carries the script's run state in ``data-test-script-state``; while it is ``running`` a bar at the
      top says so in the user's language (after half a second, so quick reruns do not flicker).
    - The file uploader: its drop-zone hint ("Drag and drop file here", "Limit 200MB per file • CSV, XLSX") and
      button ("Browse files" / "Upload") are Streamlit's English with no parameter to change them; they are replaced
      by the catalogue's words (the page states the real size limits under the uploader).
    """
    q = lambda s: s.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731 - a CSS string literal
    return f"""
<style>
@keyframes cockpit-running {{ 0% {{ background-position: 0 0; }} 100% {{ background-position: 200px 0; }} }}
@keyframes cockpit-show {{ from {{ opacity: 0; }} to {{ opacity: 1; }} }}
[data-testid="stApp"][data-test-script-state="running"]::before {{
  content: "{q(running)}"; position: fixed; top: 0; left: 0; right: 0; z-index: 999990; height: 26px;
  line-height: 26px; padding-left: 18px; font-size: 0.85rem; color: #ffffff; font-family: {FONT_STACK};
  background: repeating-linear-gradient(90deg, {PRIMARY} 0 100px, #3b7dc4 100px 200px);
  animation: cockpit-show 0s linear 0.5s both, cockpit-running 1.2s linear infinite; opacity: 0;
}}
[data-testid="stFileUploaderDropzoneInstructions"] > div > span,
[data-testid="stFileUploaderDropzoneInstructions"] > div > small {{ display: none; }}
[data-testid="stFileUploaderDropzoneInstructions"] > div::after {{ content: "{q(drop_hint)}"; font-size: 0.9rem; }}
[data-testid="stFileUploaderDropzone"] button > * {{ display: none !important; }}
[data-testid="stFileUploaderDropzone"] button::after {{ content: "{q(choose_files)}"; font-size: 0.9rem; }}
</style>
"""
