package fstools

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// mimeText is what sniff reports for UTF-8 text without control bytes and without a magic number.
const mimeText = "text/plain"

// sniff returns the type of data: a magic number when one is recognised, text when the data is
// clean UTF-8 text, and otherwise what net/http.DetectContentType says (application/octet-stream
// when it does not know either). want, the type the extension names, only settles which of several
// documents a container holding more than one is (a Word file with an embedded workbook is both).
func sniff(data []byte, want string) string {
	if m := magicWant(data, want); m != "" {
		return m
	}
	if textProblem(data) == "" {
		return mimeText
	}
	ct, _, err := mime.ParseMediaType(http.DetectContentType(data))
	if err != nil || strings.HasPrefix(ct, "text/") {
		// Not clean text by our rules (control bytes, invalid UTF-8), whatever the sniffer thinks.
		return "application/octet-stream"
	}
	return ct
}

// magic recognises content by its magic number, or returns "". The checks are strict enough that
// ordinary text never matches (a text file may start with "MZ" or "ID3"; a PE header or an ID3 tag
// also carries bytes that text does not), which is why they are used on files named as text, while
// net/http.DetectContentType, whose signatures include bare "BM", is not.
func magic(b []byte) string { return magicWant(b, "") }

// magicWant is magic with the extension's type as a hint for CFB containers (see sniff).
func magicWant(b []byte, want string) string {
	has := func(off int, sig string) bool { return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig }
	switch {
	// Executables.
	case has(0, "\x7fELF"):
		return mimeELF
	case has(0, "MZ") && isPE(b):
		return mimePE
	case has(0, "\xfe\xed\xfa\xce"), has(0, "\xfe\xed\xfa\xcf"), has(0, "\xce\xfa\xed\xfe"), has(0, "\xcf\xfa\xed\xfe"):
		return mimeMachO
	case has(0, "\xca\xfe\xba\xbe") && len(b) >= 8:
		// Shared by fat Mach-O (a small architecture count) and Java classes (a version >= 45).
		if binary.BigEndian.Uint32(b[4:8]) >= 45 {
			return "application/java-vm"
		}
		return mimeMachO
	case has(0, "\x00asm"):
		return "application/wasm"
	case has(0, "dex\n") && has(7, "\x00"):
		return "application/vnd.android.dex"
	case has(0, "L\x00\x00\x00\x01\x14\x02\x00"):
		return "application/x-ms-shortcut"
	case has(0, "#!AMR"):
		return "audio/amr"
	case has(0, "#!"):
		return mimeShebang

	// Documents and images.
	case has(0, "%PDF-"):
		return "application/pdf"
	case has(0, "%!PS"):
		return "application/postscript"
	case has(0, `{\rtf`):
		return "application/rtf"
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "image/png"
	case has(0, "\xff\xd8\xff"):
		return "image/jpeg"
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "image/gif"
	case has(0, "RIFF") && has(8, "WEBP"):
		return "image/webp"
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "image/tiff"
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return sniffCFB(b, want)
	case has(0, "PK\x03\x04"), has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return sniffZip(b)

	// Archives.
	case has(0, "\x1f\x8b"):
		return "application/gzip"
	case has(0, "BZh") && len(b) >= 10 && '1' <= b[3] && b[3] <= '9' && (has(4, "1AY&SY") || has(4, "\x17\x72\x45\x38\x50\x90")):
		return "application/x-bzip2"
	case has(0, "\xfd7zXZ\x00"):
		return "application/x-xz"
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return "application/x-7z-compressed"
	case has(0, "Rar!\x1a\x07"):
		return "application/vnd.rar"
	case has(0, "\x28\xb5\x2f\xfd"):
		return "application/zstd"
	case has(0, "\x04\x22\x4d\x18"):
		return "application/x-lz4"
	case has(0, "\x1f\x9d"):
		return "application/x-compress"
	case has(257, "ustar\x00"), has(257, "ustar  \x00"): // POSIX and GNU; the NUL keeps text from matching
		return "application/x-tar"
	case has(0, "!<arch>\ndebian-binary"):
		return "application/vnd.debian.binary-package"
	case has(0, "!<arch>\n"):
		return "application/x-archive"
	case has(0, "\xed\xab\xee\xdb"):
		return "application/x-rpm"
	case has(0, "MSCF\x00\x00\x00\x00"):
		return "application/vnd.ms-cab-compressed"
	case has(0x8001, "CD001\x01") && b[0x8000] <= 3:
		return "application/x-iso9660-image"

	// Video and audio.
	case has(4, "ftyp") && len(b) >= 12 && b[0] == 0 && b[1] == 0: // a small box size, which text never has
		return sniffISOBMFF(string(b[8:12]))
	case has(0, "\x1a\x45\xdf\xa3"):
		if bytes.Contains(b[:min(len(b), 64)], []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case has(0, "RIFF") && has(8, "WAVE"):
		return "audio/wav"
	case has(0, "RIFF") && has(8, "AVI "):
		return "video/x-msvideo"
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return "audio/aiff"
	case has(0, "OggS\x00"):
		return "audio/ogg"
	case has(0, "fLaC") && len(b) >= 5 && b[4]&0x7f == 0:
		return "audio/flac"
	case has(0, "ID3") && len(b) >= 5 && 2 <= b[3] && b[3] <= 4 && b[4] == 0:
		return "audio/mpeg"
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0:
		if b[1]&0x06 == 0 { // MPEG frame sync with layer bits 00: AAC in ADTS
			return "audio/aac"
		}
		return "audio/mpeg"
	case has(0, "MThd\x00\x00\x00\x06"):
		return "audio/midi"
	case has(0, ".snd\x00"):
		return "audio/basic"
	case has(0, "FLV\x01"):
		return "video/x-flv"
	case has(0, "\x00\x00\x01\xba"), has(0, "\x00\x00\x01\xb3"):
		return "video/mpeg"
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return "video/x-ms-asf"
	}
	return ""
}

// isPE reports whether content starting with "MZ" is a DOS or PE executable rather than text that
// happens to start with those letters: a PE signature where e_lfanew points, or a NUL in the DOS
// header (which text never has).
func isPE(b []byte) bool {
	if len(b) >= 0x40 {
		off := int64(binary.LittleEndian.Uint32(b[0x3c:0x40]))
		if off >= 0x40 && off+4 <= int64(len(b)) && string(b[off:off+4]) == "PE\x00\x00" {
			return true
		}
	}
	return bytes.IndexByte(b[:min(len(b), 0x40)], 0) >= 0
}

// sniffISOBMFF names an ISO base media file (MP4 and relatives) by its major brand.
func sniffISOBMFF(brand string) string {
	switch {
	case brand == "qt  ":
		return "video/quicktime"
	case brand == "M4A " || brand == "M4B ":
		return "audio/mp4"
	case strings.HasPrefix(brand, "3gp"):
		return "video/3gpp"
	case brand == "avif" || brand == "avis":
		return "image/avif"
	case brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1":
		return "image/heic"
	}
	return "video/mp4"
}

// sniffZip tells an OOXML document from a Java archive from a plain zip archive. A zip is an Office
// document when it has the OPC part "[Content_Types].xml" and the main part's folder (word/, xl/ or
// ppt/); with a vbaProject.bin part it is the macro-enabled variant whatever its extension. Anything
// else, including a zip that does not parse, is an archive.
func sniffZip(b []byte) string {
	// A reader comes back with zip.ErrInsecurePath for unsafe names; it still lists the files.
	zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if zr == nil {
		return mimeZip // unreadable, but zip-shaped: judged as an archive
	}
	var contentTypes, word, xl, ppt, vba, manifest bool
	for _, f := range zr.File {
		name := f.Name
		switch {
		case name == "[Content_Types].xml":
			contentTypes = true
		case name == "META-INF/MANIFEST.MF":
			manifest = true
		case strings.HasPrefix(name, "word/"):
			word = true
		case strings.HasPrefix(name, "xl/"):
			xl = true
		case strings.HasPrefix(name, "ppt/"):
			ppt = true
		}
		if strings.EqualFold(name[strings.LastIndexByte(name, '/')+1:], "vbaProject.bin") {
			vba = true
		}
	}
	switch {
	case contentTypes && word:
		return pick(vba, mimeDOCM, mimeDOCX)
	case contentTypes && xl:
		return pick(vba, mimeXLSM, mimeXLSX)
	case contentTypes && ppt:
		return pick(vba, mimePPTM, mimePPTX)
	case manifest:
		return "application/java-archive"
	}
	return mimeZip
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// sniffCFB names a Compound File Binary (OLE2) container: an installer (MSI, MSP, MST, by the root
// entry's class id), a legacy Office document with VBA macros (a _VBA_PROJECT stream), a Word, Excel
// or PowerPoint document by its main stream's name (want first, since documents embed each other),
// or an unknown container.
func sniffCFB(b []byte, want string) string {
	if cfbRootCLSIDIsInstaller(b) {
		return "application/x-msi"
	}
	streams := map[string][]string{
		"application/msword":            {"WordDocument"},
		"application/vnd.ms-excel":      {"Workbook", "Book\x00"},
		"application/vnd.ms-powerpoint": {"PowerPoint Document"},
	}
	hasStream := func(mime string) bool {
		for _, name := range streams[mime] {
			if containsUTF16(b, name) {
				return true
			}
		}
		return false
	}
	switch {
	case containsUTF16(b, "_VBA_PROJECT"):
		return mimeVBA
	case hasStream(want):
		return want
	case hasStream("application/msword"):
		return "application/msword"
	case hasStream("application/vnd.ms-excel"):
		return "application/vnd.ms-excel"
	case hasStream("application/vnd.ms-powerpoint"):
		return "application/vnd.ms-powerpoint"
	}
	return mimeOLE
}

// cfbRootCLSIDIsInstaller reads the root directory entry's CLSID and reports whether it is one of
// the Windows Installer classes {000C1084,000C1086,000C1082-0000-0000-C000-000000000046}.
func cfbRootCLSIDIsInstaller(b []byte) bool {
	if len(b) < 0x34 {
		return false
	}
	shift := binary.LittleEndian.Uint16(b[0x1e:0x20])
	if shift != 9 && shift != 12 {
		return false
	}
	dirSect := int64(binary.LittleEndian.Uint32(b[0x30:0x34]))
	off := (dirSect + 1) << shift
	if dirSect >= 0xfffffffa || off+0x60 > int64(len(b)) {
		return false
	}
	clsid := b[off+0x50 : off+0x60]
	switch string(clsid[:4]) {
	case "\x84\x10\x0c\x00", "\x86\x10\x0c\x00", "\x82\x10\x0c\x00":
		return string(clsid[4:]) == "\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46"
	}
	return false
}

// containsUTF16 reports whether b contains s encoded as UTF-16LE (how CFB stores stream names).
func containsUTF16(b []byte, s string) bool {
	enc := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		enc = append(enc, s[i], 0)
	}
	return bytes.Contains(b, enc)
}

// textProblem returns why data is not text — invalid UTF-8, or a control byte other than tab, line
// feed, carriage return and form feed — or "" if it is. A leading UTF-8 byte order mark is allowed.
func textProblem(data []byte) string {
	b := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for i, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f {
			return fmt.Sprintf("control byte 0x%02x at offset %d", c, i+len(data)-len(b))
		}
	}
	if !utf8.Valid(b) {
		return "invalid UTF-8"
	}
	return ""
}
