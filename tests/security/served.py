"""What a page run leaves for download: the files Streamlit's media manager holds and the callables it would run on
a click, for AppTest (whose run builds a fresh in-memory MediaFileManager and drops it afterwards)."""
from __future__ import annotations

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.media_file_storage import MediaFileKind
from streamlit.testing.v1 import app_test


class Recorder:
    """The media managers of every AppTest run since it was installed (the last is the last run's)."""

    def __init__(self):
        self.managers: list[MediaFileManager] = []
        recorder = self

        class Recording(MediaFileManager):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                recorder.managers.append(self)
        self.cls = Recording

    @property
    def last(self) -> MediaFileManager:
        return self.managers[-1]

    def stored(self) -> dict[str, bytes]:
        """Downloadable files the last run put into the media store (what a /media URL would serve as an
        attachment; images a page shows are media too, but no export): id → bytes."""
        return {fid: f.content for fid, f in self.last._storage._files_by_id.items()
                if f.kind == MediaFileKind.DOWNLOADABLE}

    def fetch(self, button) -> bytes:
        """The bytes a click on ``button`` downloads: its stored file, or the file its deferred callable makes."""
        proto = button.proto
        mgr = self.last
        if proto.deferred_file_id:
            url = mgr.execute_deferred(proto.deferred_file_id)
        else:
            url = proto.url
        return mgr._storage.get_file(url.rsplit("/", 1)[-1]).content


@pytest.fixture
def served(monkeypatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr(app_test, "MediaFileManager", rec.cls)
    return rec


def download_buttons(at, key_part: str = "") -> list:
    return [b for b in at.get("download_button") if key_part in (b.proto.id or "")]
