"""Every text file of a run's report folder gets its own leak-scan label: none goes unscanned."""

from __future__ import annotations

from flows.nightly import report_scan_labels


def test_every_text_file_gets_a_unique_label_of_at_most_64_characters(tmp_path):
    (tmp_path / "report.json").write_text("{}")
    (tmp_path / "screenshot.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    fonts = tmp_path / "gx" / "static" / "fonts"
    fonts.mkdir(parents=True)
    (fonts / "Grotesk.otf").write_bytes(b"OTTO\x00\x0b\x80\x00Smith\xff\xfe")  # binary
    deep = tmp_path / "gx" / "validations" / ("suite_" + "x" * 40) / "__none__" / "20261127T1"
    deep.mkdir(parents=True)
    # two long paths whose first 64 characters are the same
    for name in ("a" * 30 + "-first.html", "a" * 30 + "-second.html"):
        (deep / name).write_text("<html></html>")
    (tmp_path / "gx" / "index.html").write_text("<html></html>")

    labels = report_scan_labels(tmp_path)

    assert sorted(labels.values()) == sorted(
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and path.suffix not in (".png", ".otf")
    )
    assert all(len(label) <= 64 for label in labels)
    assert labels["report.report.json"] == tmp_path / "report.json"
    assert labels["report.gx.index.html"] == tmp_path / "gx" / "index.html"
