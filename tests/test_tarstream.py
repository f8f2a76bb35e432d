"""The lean tar reader: header formats, normalisation, hostile headers, data access."""

from __future__ import annotations

import io
import tarfile

import pytest
from fixtures import D, F, H, L, layer
from imagefs.errors import BudgetExceededError, InvalidImageError
from imagefs.oci_writer import TarMember, make_layer_tar
from imagefs.sources.base import Limits
from imagefs.tarstream import iter_members
from tarbytes import END, base256, data, header, member, pax


class Stream(io.BytesIO):
    """A BytesIO that hands out short reads, to prove no code assumes full reads."""

    def __init__(self, data: bytes, step: int | None = None):
        super().__init__(data)
        self.step = step

    def read(self, n: int = -1) -> bytes:
        if self.step and (n < 0 or n > self.step):
            n = self.step
        return super().read(n)


def members(raw: bytes, *, step: int | None = None, limits=None, read: bool = False) -> list[dict]:
    out = []
    for m in iter_members(Stream(raw, step), limits=limits, where="layer 0 (test)"):
        d = {
            "path": m.path,
            "type": m.type,
            "mode": m.mode,
            "uid": m.uid,
            "gid": m.gid,
            "size": m.size,
            "mtime": m.mtime,
            "linkname": m.linkname,
        }
        if m.xattrs:
            d["xattrs"] = m.xattrs
        if m.type in ("char", "block"):
            d["dev"] = (m.devmajor, m.devminor)
        if read and m.type == "file":
            d["data"] = m.read()
        out.append(d)
    return out


def one(raw: bytes, **kw) -> dict:
    (m,) = members(raw, **kw)
    return m


# -- header formats ---------------------------------------------------------------------

LONG = "d/" + "n" * 180
FORMAT_CASES = [
    pytest.param(make_layer_tar([TarMember(LONG, data=b"x")], fmt=tarfile.PAX_FORMAT), "/" + LONG, None, id="pax-path-overrides-name"),
    pytest.param(make_layer_tar([TarMember(LONG, data=b"x")], fmt=tarfile.GNU_FORMAT), "/" + LONG, None, id="gnu-long-name"),
    pytest.param(
        make_layer_tar([TarMember("a" * 120 + "/" + "b" * 90, data=b"x")], fmt=tarfile.USTAR_FORMAT),
        "/" + "a" * 120 + "/" + "b" * 90,
        None,
        id="ustar-prefix-joins-name",
    ),
    pytest.param(
        make_layer_tar([TarMember("s", "symlink", linkname="t" * 300)], fmt=tarfile.PAX_FORMAT),
        "/s",
        "t" * 300,
        id="pax-linkpath-overrides-linkname",
    ),
    pytest.param(
        make_layer_tar([TarMember("h", "hardlink", linkname="./x/" + "t" * 300)], fmt=tarfile.GNU_FORMAT),
        "/h",
        "/x/" + "t" * 300,
        id="gnu-long-link-hardlink-normalised",
    ),
]


@pytest.mark.parametrize("raw, path, link", FORMAT_CASES)
def test_name_formats(raw, path, link):
    m = one(raw)
    assert (m["path"], m["linkname"]) == (path, link)


def test_pax_numeric_overrides_and_xattrs():
    raw = (
        pax(
            {
                b"uid": b"4000000000",
                b"gid": b"77",
                b"mtime": b"1700000000.987654321",
                b"size": b"5",
                b"SCHILY.xattr.security.capability": b"\x01\x00\x00\x02\xff",
                b"SCHILY.xattr.user.x": b"",
                b"LIBARCHIVE.xattr.user.%C3%A9": b"aGk",
            }
        )
        + member(b"f", b"hello")
        + END
    )
    m = one(raw, read=True)
    assert (m["uid"], m["gid"], m["mtime"], m["size"], m["data"]) == (4000000000, 77, 1700000000, 5, b"hello")
    assert m["xattrs"] == {"security.capability": b"\x01\x00\x00\x02\xff", "user.x": b"", "user.é": b"hi"}


def test_pax_header_applies_to_next_member_only():
    raw = pax({b"path": b"renamed", b"uid": b"9"}) + member(b"a") + member(b"b") + END
    assert [(m["path"], m["uid"]) for m in members(raw)] == [("/renamed", 9), ("/b", 0)]


def test_pax_global_header_is_ignored():
    """Go's archive/tar (so Docker, containerd, umoci) ignores 'g' records for members."""
    raw = pax({b"path": b"global", b"uid": b"5", b"comment": b"x" * 600}, type=b"g") + member(b"a") + END
    assert [(m["path"], m["uid"]) for m in members(raw)] == [("/a", 0)]


def test_pax_global_header_from_tarfile():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "git"}) as tf:
        tf.addfile(tarfile.TarInfo("a"))
    assert [m["path"] for m in members(buf.getvalue())] == ["/a"]


BASE256_CASES = [
    pytest.param({124: base256(3, 12)}, "size", 3, id="base256-size"),
    pytest.param({108: base256(2**40, 8)}, "uid", 2**40, id="base256-uid"),
    pytest.param({136: base256(-86400, 12)}, "mtime", -86400, id="base256-negative-mtime-ok"),
    pytest.param({100: b"  644 \x00\x00"}, "mode", 0o644, id="octal-space-padded"),
    pytest.param({108: b"\x00" * 8}, "uid", 0, id="octal-empty-is-zero"),
]


@pytest.mark.parametrize("fields, key, value", BASE256_CASES)
def test_numeric_fields(fields, key, value):
    raw = header(b"f", fields=fields) + data(b"abc" if key == "size" else b"") + END
    assert one(raw)[key] == value


def test_base256_from_gnu_tarfile():
    raw = make_layer_tar([TarMember("f", uid=2**33, gid=2**34, data=b"q")], fmt=tarfile.GNU_FORMAT)
    m = one(raw)
    assert (m["uid"], m["gid"]) == (2**33, 2**34)


# -- types ---------------------------------------------------------------------------------

TYPE_CASES = [
    pytest.param(b"0", "file", id="regular"),
    pytest.param(b"\x00", "file", id="old-aregtype"),
    pytest.param(b"7", "file", id="contiguous-is-file"),
    pytest.param(b"5", "dir", id="dir"),
    pytest.param(b"2", "symlink", id="symlink"),
    pytest.param(b"3", "char", id="char-device"),
    pytest.param(b"4", "block", id="block-device"),
    pytest.param(b"6", "fifo", id="fifo"),
]


@pytest.mark.parametrize("flag, kind", TYPE_CASES)
def test_types(flag, kind):
    m = one(header(b"x", type=flag, linkname=b"t", devmajor=1, devminor=3, mode=0o107777) + END)
    assert m["type"] == kind
    assert m["mode"] == 0o7777  # file type bits in the mode field are dropped
    if kind in ("char", "block"):
        assert m["dev"] == (1, 3)


def test_aregtype_with_trailing_slash_is_dir():
    assert one(header(b"d/", type=b"\x00") + END)["type"] == "dir"


def test_unknown_type_is_refused():
    with pytest.raises(InvalidImageError, match=r"layer 0 \(test\).*'V'"):
        members(header(b"vol", type=b"V") + END)


# -- paths ---------------------------------------------------------------------------------

PATH_CASES = [
    pytest.param("./etc/passwd", "/etc/passwd", id="dot-slash-prefix-stripped"),
    pytest.param("/etc/passwd", "/etc/passwd", id="leading-slash-stripped"),
    pytest.param("etc//x///y", "/etc/x/y", id="double-slash-collapsed"),
    pytest.param("etc/./x", "/etc/x", id="inner-dot-dropped"),
    pytest.param("etc/dir/", "/etc/dir", id="trailing-slash-dropped"),
    pytest.param("./", "/", id="root-dot-slash"),
    pytest.param(".", "/", id="root-dot"),
    pytest.param("a\\..\\b", "/a\\..\\b", id="backslash-is-ordinary"),
    pytest.param("C:\\x", "/C:\\x", id="drive-letter-is-ordinary"),
    pytest.param("...", "/...", id="three-dots-is-a-name"),
    pytest.param(".hidden/..x", "/.hidden/..x", id="dot-names-are-names"),
]


@pytest.mark.parametrize("name, path", PATH_CASES)
def test_path_normalisation(name, path):
    assert one(layer(F(name)))["path"] == path


@pytest.mark.parametrize("name", ["..", "../x", "a/../../x", "/../x", "a/.."], ids=lambda n: f"dotdot-{n}")
def test_dotdot_is_refused_naming_layer_and_entry(name):
    with pytest.raises(InvalidImageError, match=r"layer 0 \(test\): entry .*'\.\.'"):
        members(layer(F("ok"), F(name)))


def test_hardlink_target_dotdot_is_refused():
    with pytest.raises(InvalidImageError, match="hardlink"):
        members(layer(H("h", "../victim")))


def test_symlink_text_is_verbatim():
    assert one(layer(L("s", "../../etc//x/")))["linkname"] == "../../etc//x/"


def test_non_utf8_names_are_lossless():
    m = one(header(b"caf\xe9\xff/x") + END)
    assert m["path"] == "/caf\udce9\udcff/x"
    assert m["path"].encode("utf-8", "surrogateescape") == b"/caf\xe9\xff/x"


# -- hostile or broken archives ------------------------------------------------------------

BROKEN_CASES = [
    pytest.param(member(b"f", b"abcdef")[:600], "truncated", id="truncated-in-data"),
    pytest.param(member(b"f", b"abc") + header(b"g")[:100], "truncated", id="truncated-in-header"),
    pytest.param(pax({b"path": b"x"}), "truncated", id="pax-header-then-eof"),
    pytest.param(header(b"f", size=100) + END[:10], "truncated", id="size-beyond-eof"),
    pytest.param(header(b"f", fields={124: b"-0000000001\x00"}) + END, "impossible size", id="negative-octal-size"),
    pytest.param(header(b"f", fields={124: base256(-5, 12)}) + END, "impossible size", id="negative-base256-size"),
    pytest.param(header(b"f", fields={124: base256(2**90, 12)}) + END, "impossible size", id="absurd-base256-size"),
    pytest.param(pax({b"size": b"999999999999999999999"}) + member(b"f") + END, "impossible", id="huge-pax-size"),
    pytest.param(pax({b"size": b"-1"}) + member(b"f") + END, "impossible", id="negative-pax-size"),
    pytest.param(pax({b"uid": b"x1"}) + member(b"f") + END, "not a number", id="pax-uid-not-a-number"),
    pytest.param(header(b"PaxHeader", type=b"x", size=12) + data(b"99 path=abc\n") + END, "malformed PAX", id="pax-bad-length"),
    pytest.param(header(b"f", fields={100: b"0x1234\x00\x00"}) + END, "invalid numeric", id="garbage-mode-field"),
    pytest.param(header(b"f", magic=b"", checksum=False) + END, "bad checksum", id="v7-bad-checksum"),
    pytest.param(b"\x1f\x8b\x08" + bytes(600), "bad checksum", id="gzip-not-tar"),
    pytest.param(header(b"L", type=b"L", size=2 << 20) + END, "cap", id="huge-gnu-longname"),
    pytest.param(header(b"f", uid=1, fields={108: b"-000001\x00"}) + END, "negative owner", id="negative-uid"),
]


@pytest.mark.parametrize("raw, message", BROKEN_CASES)
def test_broken_archives_raise_invalid_image(raw, message):
    with pytest.raises(InvalidImageError, match=message) as info:
        members(raw)
    assert info.value.args[0].startswith("layer 0 (test): ")
    assert "\n" not in str(info.value)


def test_huge_size_over_budget_is_budget_error():
    limits = Limits(max_inflated_bytes=1000)
    with pytest.raises(BudgetExceededError, match="1000-byte"):
        members(header(b"f", size=5000) + END, limits=limits)


def test_v7_header_with_good_checksum_is_read():
    assert one(header(b"old", magic=b"") + END)["path"] == "/old"


def test_junk_after_end_marker_is_drained():
    raw = layer(F("a", b"1")) + b"junk" * 5000
    s = Stream(raw, 777)
    assert [m.path for m in iter_members(s, where="l")] == ["/a"]
    assert s.tell() == len(raw)


def test_single_zero_block_then_eof_ends_archive():
    assert [m["path"] for m in members(member(b"a") + bytes(512))] == ["/a"]


@pytest.mark.parametrize(
    "tail", [member(b"hidden"), b"junk" + bytes(508), b"junk"], ids=["hidden-member", "junk-block", "partial-block"]
)
def test_single_zero_block_then_data_is_invalid(tail):
    """Go's archive/tar refuses this (so Docker does): entries cannot hide behind one zero block."""
    with pytest.raises(InvalidImageError):
        members(member(b"a") + bytes(512) + tail)


def test_no_end_marker_at_block_boundary_is_accepted():
    assert [m["path"] for m in members(member(b"a", b"x") + member(b"b"))] == ["/a", "/b"]


def test_empty_stream_is_an_empty_layer():
    assert members(b"") == []


# -- GNU sparse ----------------------------------------------------------------------------


def test_old_gnu_sparse_reports_real_size_and_expands_holes():
    sparse_hdr = header(
        b"sparse",
        type=b"S",
        size=512,
        magic=b"ustar  \x00",
        fields={386: b"%011o\x00%011o\x00" % (4096, 512), 482: b"\x01", 483: b"%011o\x00" % (1 << 20)},
    )
    ext = bytearray(512)
    ext[0:24] = b"%011o\x00%011o\x00" % ((1 << 20), 0)
    raw = sparse_hdr + bytes(ext) + data(b"s" * 512) + member(b"after", b"ok") + END
    got = [(m.path, m.type, m.size, bool(m.sparse), m.read()) for m in iter_members(io.BytesIO(raw), where="l")]
    assert got == [
        ("/sparse", "file", 1 << 20, True, bytes(4096) + b"s" * 512 + bytes((1 << 20) - 4608)),
        ("/after", "file", 2, False, b"ok"),
    ]


def test_pax_sparse_1_0_reports_real_size_and_name():
    payload = b"1\n0\n3\n"
    payload = data(payload) + b"abc"
    raw = (
        pax({b"GNU.sparse.major": b"1", b"GNU.sparse.minor": b"0", b"GNU.sparse.name": b"real/name", b"GNU.sparse.realsize": b"4096"})
        + member(b"GNUSparseFile.0/name", payload)
        + member(b"next")
        + END
    )
    got = [(m.path, m.size, m.read()) for m in iter_members(io.BytesIO(raw), where="l")]
    assert got == [("/real/name", 4096, b"abc" + bytes(4093)), ("/next", 0, b"")]


@pytest.mark.parametrize("chunk", [1, 7, 4096], ids=["1-byte-reads", "7-byte-reads", "4k-reads"])
def test_pax_sparse_0_1_reads_in_chunks(chunk):
    raw = pax({b"GNU.sparse.size": b"20", b"GNU.sparse.map": b"2,3,10,2"}) + member(b"s", b"abcde") + END
    m = next(iter_members(io.BytesIO(raw), where="l"))
    out = b""
    while piece := m.read(chunk):
        out += piece
    assert out == b"\0\0abc\0\0\0\0\0de" + bytes(8)


def test_pax_sparse_0_0_repeated_records():
    raw = (
        pax({b"GNU.sparse.size": b"6", b"GNU.sparse.numblocks": b"1", b"GNU.sparse.offset": b"4", b"GNU.sparse.numbytes": b"2"})
        + member(b"s", b"xy")
        + END
    )
    m = next(iter_members(io.BytesIO(raw), where="l"))
    buf = bytearray(10)
    assert m.readinto(buf) == 6 and bytes(buf[:6]) == b"\0\0\0\0xy"


BAD_SPARSE = [
    pytest.param({b"GNU.sparse.size": b"10", b"GNU.sparse.map": b"0,2"}, b"abc", "describes 2 bytes but 3", id="map-size-mismatch"),
    pytest.param({b"GNU.sparse.size": b"10", b"GNU.sparse.map": b"5,2,4,1"}, b"abc", "overlapping", id="overlapping-segments"),
    pytest.param({b"GNU.sparse.size": b"4", b"GNU.sparse.map": b"3,3"}, b"abc", "out-of-range", id="segment-past-end"),
    pytest.param({b"GNU.sparse.size": b"4", b"GNU.sparse.map": b"1,x"}, b"abc", "not numeric", id="map-not-numeric"),
    pytest.param({b"GNU.sparse.major": b"1", b"GNU.sparse.realsize": b"9"}, b"2\n0\n", "truncated", id="1.0-map-truncated"),
]


@pytest.mark.parametrize("records, payload, message", BAD_SPARSE)
def test_bad_sparse_maps_are_invalid(records, payload, message):
    raw = pax(records) + member(b"s", payload) + END
    with pytest.raises(InvalidImageError, match=message):
        for m in iter_members(io.BytesIO(raw), where="l"):
            m.read()


def test_sparse_size_over_budget():
    raw = pax({b"GNU.sparse.size": b"5000", b"GNU.sparse.map": b"0,1"}) + member(b"s", b"a") + END
    with pytest.raises(InvalidImageError, match="over budget"):
        members(raw, limits=Limits(max_inflated_bytes=4000))


@pytest.mark.parametrize(
    "options",
    [["--format=gnu"], ["--format=posix", "--sparse-version=0.0"], ["--format=posix", "--sparse-version=0.1"], ["--format=posix", "--sparse-version=1.0"]],
    ids=["gnu-old-sparse", "pax-sparse-0.0", "pax-sparse-0.1", "pax-sparse-1.0"],
)
def test_gnu_tar_sparse_files_round_trip(tmp_path, options):
    import subprocess

    from conftest import require_tool

    tar = require_tool("tar")
    src = tmp_path / "src"
    src.mkdir()
    content = bytearray(3 * 1024 * 1024)
    content[100:105] = b"hello"
    content[2 * 1024 * 1024 : 2 * 1024 * 1024 + 4] = b"mid!"
    content[-3:] = b"end"
    with open(src / "holes", "wb") as f:  # write with real holes
        f.truncate(len(content))
        for off in (100, 2 * 1024 * 1024, len(content) - 3):
            f.seek(off)
            f.write(bytes(content[off : off + 5]).rstrip(b"\0"))
    (src / "plain").write_bytes(b"plain")
    out = tmp_path / "t.tar"
    subprocess.run([tar, "--sparse", *options, "-cf", out, "-C", src, "holes", "plain"], check=True)
    got = {m.path: (m.size, m.read()) for m in iter_members(Stream(out.read_bytes(), 1000), where="l")}
    assert got == {"/holes": (len(content), bytes(content)), "/plain": (5, b"plain")}


# -- limits --------------------------------------------------------------------------------

LIMIT_CASES = [
    pytest.param(Limits(max_entries=2), layer(F("a"), F("b"), F("c")), "entries", id="max-entries"),
    pytest.param(Limits(max_path_length=50), layer(F("x" * 51)), "path length", id="max-path-length"),
    pytest.param(Limits(max_path_depth=3), layer(F("a/b/c/d")), "depth", id="max-path-depth"),
    pytest.param(Limits(max_path_length=50), layer(L("s", "t" * 60)), "target", id="max-symlink-target-length"),
]


@pytest.mark.parametrize("limits, raw, message", LIMIT_CASES)
def test_budgets(limits, raw, message):
    with pytest.raises(BudgetExceededError, match=message):
        members(raw, limits=limits)


def test_within_budgets_is_fine():
    assert len(members(layer(F("a/b/c")), limits=Limits(max_entries=1, max_path_depth=3, max_path_length=5))) == 1


# -- data access ---------------------------------------------------------------------------


@pytest.mark.parametrize("step", [None, 1, 100, 513], ids=["whole-reads", "1-byte-reads", "100-byte-reads", "513-byte-reads"])
def test_data_reads_with_short_stream_reads(step):
    big = bytes(range(256)) * 4000
    raw = layer(F("a", b"hello"), D("d"), F("big", big), F("c", b"tail"))
    got = {m["path"]: m.get("data") for m in members(raw, step=step, read=True)}
    assert got == {"/a": b"hello", "/d": None, "/big": big, "/c": b"tail"}


def test_partial_reads_then_skip():
    raw = layer(F("a", b"0123456789" * 1000), F("b", b"bee"))
    it = iter_members(io.BytesIO(raw), where="l")
    a = next(it)
    assert a.read(3) == b"012"
    buf = bytearray(4)
    assert a.readinto(buf) == 4 and bytes(buf) == b"3456"
    b = next(it)
    assert b.read() == b"bee" and b.read() == b""
    with pytest.raises(ValueError, match="no longer available"):
        a.read()
    assert list(it) == []


def test_readinto_until_end():
    payload = bytes(range(256)) * 10
    raw = layer(F("a", payload))
    for m in iter_members(Stream(raw, 300), where="l"):
        got = bytearray()
        buf = bytearray(1000)
        while n := m.readinto(buf):
            got += buf[:n]
        assert got == payload
