package fstools

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realELF returns the first 4 KiB of a real executable: the running test binary, or /bin/ls.
func realELF(t *testing.T) []byte {
	t.Helper()
	for _, name := range []string{"/bin/ls", executable(t)} {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		defer f.Close()
		b := make([]byte, 4096)
		n, _ := io.ReadFull(f, b)
		if n >= 64 && string(b[:4]) == "\x7fELF" {
			return b[:n]
		}
	}
	t.Skip("no ELF executable on this system")
	return nil
}

func executable(t *testing.T) string {
	name, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	return name
}

func realPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func realJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func realGIF(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, 4, 4), color.Palette{color.Black, color.White}), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// realZip builds a zip archive holding the named files.
func realZip(t *testing.T, names ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "<xml/>")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// docx is an OOXML-shaped Word document: [Content_Types].xml, _rels and word/document.xml.
func docx(t *testing.T, extra ...string) []byte {
	return realZip(t, append([]string{"[Content_Types].xml", "_rels/.rels", "word/document.xml"}, extra...)...)
}

// cfb builds a minimal Compound File Binary header with a directory sector holding the given
// stream names and root CLSID.
func cfb(clsid []byte, streams ...string) []byte {
	b := make([]byte, 512*3)
	copy(b, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	binary.LittleEndian.PutUint16(b[0x1e:], 9) // 512-byte sectors
	binary.LittleEndian.PutUint32(b[0x30:], 0) // directory in sector 0, at offset 512
	dir := b[512:]
	copy(dir[0x50:], clsid)
	for i, s := range append([]string{"Root Entry"}, streams...) {
		for j, c := range []byte(s) {
			dir[i*128+2*j] = c
		}
	}
	return b
}

var msiCLSID = []byte("\x84\x10\x0c\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46")

func TestMagic(t *testing.T) {
	tar := make([]byte, 512)
	copy(tar[257:], "ustar\x0000")
	iso := make([]byte, 0x8010)
	copy(iso[0x8000:], "\x01CD001\x01")
	pe := make([]byte, 0x100)
	copy(pe, "MZ")
	binary.LittleEndian.PutUint32(pe[0x3c:], 0x80)
	copy(pe[0x80:], "PE\x00\x00")
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"elf", realELF(t), mimeELF},
		{"pe", pe, mimePE},
		{"dos mz with nul", []byte("MZ\x90\x00\x03\x00\x00\x00"), mimePE},
		{"text starting MZ", []byte("MZ is a fine name for a text file\n"), ""},
		{"mach-o 64", []byte("\xcf\xfa\xed\xfe\x07\x00\x00\x01"), mimeMachO},
		{"mach-o fat", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x02"), mimeMachO},
		{"java class", []byte("\xca\xfe\xba\xbe\x00\x00\x00\x34"), "application/java-vm"},
		{"wasm", []byte("\x00asm\x01\x00\x00\x00"), "application/wasm"},
		{"shebang", []byte("#!/bin/sh\necho hi\n"), mimeShebang},
		{"shebang env", []byte("#! /usr/bin/env python3\n"), mimeShebang},
		{"png", realPNG(t), "image/png"},
		{"jpeg", realJPEG(t), "image/jpeg"},
		{"gif", realGIF(t), "image/gif"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf"},
		{"zip", realZip(t, "a.txt"), mimeZip},
		{"docx", docx(t), mimeDOCX},
		{"xlsx", realZip(t, "[Content_Types].xml", "xl/workbook.xml"), mimeXLSX},
		{"pptx", realZip(t, "[Content_Types].xml", "ppt/presentation.xml"), mimePPTX},
		{"docm", docx(t, "word/vbaProject.bin"), mimeDOCM},
		{"zip with word/ but no content types", realZip(t, "word/document.xml"), mimeZip},
		{"jar", realZip(t, "META-INF/MANIFEST.MF", "a.class"), "application/java-archive"},
		{"doc", cfb(nil, "WordDocument"), "application/msword"},
		{"xls", cfb(nil, "Workbook"), "application/vnd.ms-excel"},
		{"ppt", cfb(nil, "PowerPoint Document"), "application/vnd.ms-powerpoint"},
		{"doc with macros", cfb(nil, "WordDocument", "Macros", "_VBA_PROJECT"), mimeVBA},
		{"msi", cfb(msiCLSID, "WordDocument"), "application/x-msi"},
		{"other cfb", cfb(nil, "Contents"), mimeOLE},
		{"gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"), "application/gzip"},
		{"bzip2", []byte("BZh91AY&SY\x00"), "application/x-bzip2"},
		{"text starting BZh", []byte("BZh is not bzip2\n"), ""},
		{"xz", []byte("\xfd7zXZ\x00\x00\x04"), "application/x-xz"},
		{"7z", []byte("7z\xbc\xaf\x27\x1c\x00\x04"), "application/x-7z-compressed"},
		{"rar", []byte("Rar!\x1a\x07\x01\x00"), "application/vnd.rar"},
		{"zstd", []byte("\x28\xb5\x2f\xfd\x00"), "application/zstd"},
		{"tar", tar, "application/x-tar"},
		{"iso", iso, "application/x-iso9660-image"},
		{"deb", []byte("!<arch>\ndebian-binary   "), "application/vnd.debian.binary-package"},
		{"mp4", []byte("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00"), "video/mp4"},
		{"mov", []byte("\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00"), "video/quicktime"},
		{"m4a", []byte("\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00"), "audio/mp4"},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"},
		{"mkv", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"},
		{"mp3 id3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"},
		{"text starting ID3", []byte("ID3 tags are metadata\n"), ""},
		{"mp3 frame", []byte("\xff\xfb\x90\x64\x00"), "audio/mpeg"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "audio/wav"},
		{"ogg", []byte("OggS\x00\x02\x00\x00"), "audio/ogg"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "audio/flac"},
		{"avi", []byte("RIFF\x24\x00\x00\x00AVI LIST"), "video/x-msvideo"},
		{"plain text", []byte("hello, world\n"), ""},
		{"text with ustar at 257", []byte(strings.Repeat("x", 256) + "custard pie\n"), ""},
		{"text with ftyp at 4", []byte("softftypeset\n"), ""},
		{"text with CD001 at 0x8001", []byte(strings.Repeat("y", 0x8001) + "CD001 is a part number\n"), ""},
		{"empty", nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := magic(c.data); got != c.want {
				t.Errorf("magic = %q, want %q", got, c.want)
			}
		})
	}
}

func TestTextProblem(t *testing.T) {
	cases := []struct {
		name string
		data string
		ok   bool
	}{
		{"ascii", "hello\n", true},
		{"utf-8", "résumé — 日本語\r\n\tform\ffeed", true},
		{"bom", "\xef\xbb\xbfwith bom", true},
		{"empty", "", true},
		{"nul", "a\x00b", false},
		{"escape", "\x1b[31mred", false},
		{"del", "a\x7fb", false},
		{"invalid utf-8", "caf\xe9", false},
		{"utf-16", "\xff\xfeh\x00i\x00", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := textProblem([]byte(c.data)); (got == "") != c.ok {
				t.Errorf("textProblem(%q) = %q, want ok=%v", c.data, got, c.ok)
			}
		})
	}
}

// TestMIMEWrite writes real content under matching and mismatching names.
func TestMIMEWrite(t *testing.T) {
	h := newHarness(t, Config{})
	elf := realELF(t)
	cases := []struct {
		name, path string
		data       []byte
		want       string // "" means accepted; otherwise in the refusal
	}{
		{"ELF as .txt", "elf.txt", elf, "executable"},
		{"ELF as .md", "elf.md", elf, "executable"},
		{"ELF as .png", "elf.png", elf, "executable"},
		{"ELF as .bin", "elf.bin", elf, "blocked"},
		{"ELF as .elf", "elf.elf", elf, "blocked"},
		{"zip as .pdf", "archive.pdf", realZip(t, "a.txt"), "zip archive"},
		{"zip as .zip", "archive.zip", realZip(t, "a.txt"), "blocked"},
		{"zip as .docx", "archive.docx", realZip(t, "a.txt"), "zip archive"},
		{"PNG as .png", "img.png", realPNG(t), ""},
		{"PNG as .PNG", "IMG.PNG", realPNG(t), ""},
		{"PNG as .txt", "img.txt", realPNG(t), "image/png"},
		{"PNG as .jpg", "img.jpg", realPNG(t), "image/png"},
		{"JPEG as .jpeg", "img.jpeg", realJPEG(t), ""},
		{"GIF as .gif", "img.gif", realGIF(t), ""},
		{"OOXML as .docx", "report.docx", docx(t), ""},
		{"OOXML Word as .xlsx", "report.xlsx", docx(t), "not " + mimeXLSX},
		{"OOXML with macros as .docx", "macro.docx", docx(t, "word/vbaProject.bin"), "macros"},
		{"OOXML with macros as .docm", "macro.docm", docx(t, "word/vbaProject.bin"), "blocked"},
		{"legacy Word as .doc", "old.doc", cfb(nil, "WordDocument"), ""},
		{"legacy Word with embedded workbook as .xls", "old.xls", cfb(nil, "WordDocument", "Workbook"), ""},
		{"MSI as .doc", "setup.doc", cfb(msiCLSID, "WordDocument"), "application/x-msi"},
		{"legacy Word with macros as .doc", "macro.doc", cfb(nil, "WordDocument", "_VBA_PROJECT"), "macros"},
		{"PDF as .pdf", "paper.pdf", []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"), ""},
		{"empty .pdf", "empty.pdf", nil, "empty"},
		{"text as .pdf", "fake.pdf", []byte("not a pdf"), "the content is text"},
		{"shebang script as .txt", "run.txt", []byte("#!/bin/sh\nrm -rf /\n"), "script"},
		{"shebang script as .md", "run.md", []byte("#!/usr/bin/env python3\nprint(1)\n"), "script"},
		{"shebang script as .sh", "run.sh", []byte("#!/bin/sh\n"), "blocked"},
		{"python as .py", "x.py", []byte("print(1)\n"), "blocked"},
		{"javascript as .js", "x.js", []byte("alert(1)\n"), "blocked"},
		{"powershell as .ps1", "x.ps1", []byte("Get-Item\n"), "blocked"},
		{"batch as .bat", "x.bat", []byte("del *\n"), "blocked"},
		{"exe", "x.exe", []byte("MZ\x90\x00"), "blocked"},
		{"mp4", "x.mp4", []byte("\x00\x00\x00\x18ftypisom"), "blocked"},
		{"mp3", "x.mp3", []byte("ID3\x04\x00"), "blocked"},
		{"wav", "x.wav", []byte("RIFF\x24\x00\x00\x00WAVE"), "blocked"},
		{"ogg", "x.ogg", []byte("OggS\x00"), "blocked"},
		{"webm", "x.webm", []byte("\x1a\x45\xdf\xa3"), "blocked"},
		{"gzip as .txt", "x.txt", []byte("\x1f\x8b\x08\x00"), "application/gzip"},
		{"7z as .csv", "x.csv", []byte("7z\xbc\xaf\x27\x1c"), "application/x-7z-compressed"},
		{"pdf as .txt", "x.txt", []byte("%PDF-1.4\n"), "application/pdf"},
		{"invalid UTF-8 as .txt", "latin1.txt", []byte("caf\xe9"), "invalid UTF-8"},
		{"NUL in .json", "x.json", []byte("{\"a\":\x00}"), "control byte 0x00"},
		{"UTF-8 with BOM as .csv", "bom.csv", []byte("\xef\xbb\xbfa,b\n1,2\n"), ""},
		{"HTML as .html", "page.html", []byte("<!doctype html><p>hi</p>"), ""},
		{"XML as .xml", "data.xml", []byte("<?xml version=\"1.0\"?><a/>"), ""},
		{"empty .txt", "empty.txt", nil, ""},
		{"unknown extension", "x.xyz", []byte("hello"), "not a known file type"},
		{"no extension", "Makefile", []byte("all:\n"), "no file extension"},
		{"dotfile", ".bashrc", []byte("alias x=y\n"), "not a known file type"},
		{"double extension ending .exe", "x.txt.exe", []byte("MZ"), "blocked"},
		{"svg", "x.svg", []byte("<svg/>"), "blocked"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := h.call("A", ToolWrite, map[string]string{
				"path": c.path, "content": base64.StdEncoding.EncodeToString(c.data), "encoding": "base64"})
			_, statErr := os.Lstat(filepath.Join(h.a, c.path))
			if c.want == "" {
				mustSucceed(t, c.name, res)
				if statErr != nil {
					t.Errorf("the file was not written: %v", statErr)
				}
				return
			}
			mustRefuse(t, c.name, res, c.want)
			if statErr == nil {
				t.Errorf("a refused write left %s on disk", c.path)
			}
		})
	}
}

// TestMIMERead places real files directly on disk and reads them: the checks apply to files
// gatehouse did not write.
func TestMIMERead(t *testing.T) {
	h := newHarness(t, Config{})
	pngData, doc := realPNG(t), docx(t)
	files := map[string][]byte{
		"elf.txt": realELF(t), "zip.pdf": realZip(t, "a.txt"), "img.png": pngData, "img.txt": pngData,
		"report.docx": doc, "run.txt": []byte("#!/bin/sh\nid\n"), "notes.md": []byte("# Notes\n"),
		"tool.exe": []byte("MZ\x90\x00"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(h.a, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ path, want string }{
		{"elf.txt", "executable"}, {"zip.pdf", "zip archive"}, {"img.txt", "image/png"},
		{"run.txt", "script"}, {"tool.exe", "blocked"},
	} {
		mustRefuse(t, "read "+c.path, h.call("A", ToolRead, map[string]string{"path": c.path}), c.want)
	}

	res := h.call("A", ToolRead, map[string]string{"path": "img.png"})
	mustSucceed(t, "read img.png", res)
	if got := res.Content[0]; got["type"] != "image" || got["mimeType"] != "image/png" || got["data"] != base64.StdEncoding.EncodeToString(pngData) {
		t.Errorf("read img.png: got %v, want an image block with the PNG", res.Raw[:min(len(res.Raw), 200)])
	}

	res = h.call("A", ToolRead, map[string]string{"path": "report.docx"})
	mustSucceed(t, "read report.docx", res)
	resource, _ := res.Content[0]["resource"].(map[string]any)
	if res.Content[0]["type"] != "resource" || resource["mimeType"] != mimeDOCX ||
		resource["blob"] != base64.StdEncoding.EncodeToString(doc) || resource["uri"] != "fs:///report.docx" {
		t.Errorf("read report.docx: got %.300s, want an embedded resource with the document", res.Raw)
	}

	res = h.call("A", ToolRead, map[string]string{"path": "notes.md"})
	mustSucceed(t, "read notes.md", res)
	if res.Content[0]["type"] != "text" || res.Text() != "# Notes\n" {
		t.Errorf("read notes.md: got %s, want its text", res.Raw)
	}
}

// TestMIMEConfigured: an operator can allow a blocked type by allowing it and not blocking it, and
// can block an allowed one.
func TestMIMEConfigured(t *testing.T) {
	zipData := realZip(t, "a.txt")
	h := newHarness(t, Config{
		AllowMIME: append(DefaultAllowMIME(), "application/zip"),
		BlockMIME: []string{"image/*"},
	})
	res := h.call("A", ToolWrite, map[string]string{"path": "a.zip", "content": base64.StdEncoding.EncodeToString(zipData), "encoding": "base64"})
	mustSucceed(t, "write a.zip", res)
	res = h.call("A", ToolRead, map[string]string{"path": "a.zip"})
	mustSucceed(t, "read a.zip", res)
	if res.Content[0]["type"] != "resource" {
		t.Errorf("read a.zip: got %.200s, want an embedded resource", res.Raw)
	}
	res = h.call("A", ToolWrite, map[string]string{"path": "a.png", "content": base64.StdEncoding.EncodeToString(realPNG(t)), "encoding": "base64"})
	mustRefuse(t, "write a.png with images blocked", res, "blocked")

	// The tool descriptions follow the configuration.
	desc := h.tools.List()[0].Description
	if !strings.Contains(desc, ".zip") || strings.Contains(desc, ".png") {
		t.Errorf("fs.read description %q: want .zip listed and .png not", desc)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := New(Config{MaxFileBytes: -1, AllowMIME: []string{"text", "image/*", "*/x"}, BlockMIME: []string{"bad type/x"}})
	if err == nil {
		t.Fatal("New accepted an invalid config")
	}
	for _, want := range []string{"data root is empty", "negative", `"text"`, `"*/x"`, `"bad type/x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q: want it to mention %s (all problems at once)", err, want)
		}
	}
}

func TestDefaultsMatchSpec(t *testing.T) {
	h := newHarness(t, Config{})
	for _, ext := range []string{".txt", ".csv", ".md", ".html", ".json", ".xml", ".pdf", ".doc", ".xls", ".ppt", ".docx", ".xlsx", ".pptx", ".png", ".jpg", ".gif", ".webp"} {
		if _, err := h.tools.typeFor("f" + ext); err != nil {
			t.Errorf("%s: %v, want allowed by default (SPEC §8.4)", ext, err)
		}
	}
	for _, ext := range []string{".exe", ".elf", ".sh", ".py", ".js", ".bat", ".ps1", ".zip", ".gz", ".tar", ".7z", ".rar", ".mp4", ".webm", ".mp3", ".wav", ".ogg", ".docm", ".jar"} {
		if _, err := h.tools.typeFor("f" + ext); err == nil {
			t.Errorf("%s: allowed, want blocked by default (SPEC §8.4)", ext)
		}
	}
}

// TestDocsListEveryExtension keeps docs/builtin-tools.md's MIME table in step with the code.
func TestDocsListEveryExtension(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "builtin-tools.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range extensionTable {
		if !bytes.Contains(doc, []byte("`"+e.ext+"`")) {
			t.Errorf("docs/builtin-tools.md does not list the extension `%s` (%s)", e.ext, e.mime)
		}
	}
}
