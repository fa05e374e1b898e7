package fstools

import (
	"fmt"
	"path"
	"strings"
)

// MIME types named in more than one place.
const (
	mimeDOCX  = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	mimeXLSX  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	mimePPTX  = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	mimeDOCM  = "application/vnd.ms-word.document.macroenabled.12"
	mimeXLSM  = "application/vnd.ms-excel.sheet.macroenabled.12"
	mimePPTM  = "application/vnd.ms-powerpoint.presentation.macroenabled.12"
	mimeELF   = "application/x-executable"
	mimePE    = "application/vnd.microsoft.portable-executable"
	mimeMachO = "application/x-mach-binary"
	mimeZip   = "application/zip"
	// mimeShebang is what the sniffer reports for content starting with "#!": a script for some
	// interpreter, whatever its extension says.
	mimeShebang = "text/x-script"
	// mimeVBA is what the sniffer reports for a legacy Office file that carries VBA macros.
	mimeVBA = "application/vnd.ms-office.vbaproject"
	// mimeOLE is a Compound File Binary container that is none of Word, Excel or PowerPoint.
	mimeOLE = "application/x-ole-storage"
)

// class is what kind of file a type is; it decides how fs.read returns the content and how a
// refusal describes the type.
type class string

const (
	classText       class = "text"
	classImage      class = "image"
	classDocument   class = "document" // PDF and Office: binary, returned as an embedded resource
	classExecutable class = "executable"
	classScript     class = "script"
	classArchive    class = "archive"
	classVideo      class = "video"
	classAudio      class = "audio"
)

// fileType is what an extension says a file is.
type fileType struct {
	ext   string // lower case, with its dot
	mime  string
	class class
}

// textual reports whether content of this type must be UTF-8 text.
func (f fileType) textual() bool { return f.class == classText || f.class == classScript }

// extensionTable maps every extension gatehouse knows to a type. An extension not here is refused
// whatever its content: a file whose type is unknown cannot be checked. Whether a known type may be
// used is decided by Config.AllowMIME and Config.BlockMIME, not by this table. The table is never
// modified; docs/builtin-tools.md lists it (a test keeps the two in step).
var extensionTable = []fileType{
	// Allowed by default (SPEC §8.4).
	{".txt", "text/plain", classText},
	{".text", "text/plain", classText},
	{".log", "text/plain", classText},
	{".csv", "text/csv", classText},
	{".md", "text/markdown", classText},
	{".markdown", "text/markdown", classText},
	{".html", "text/html", classText},
	{".htm", "text/html", classText},
	{".json", "application/json", classText},
	{".xml", "application/xml", classText},
	{".pdf", "application/pdf", classDocument},
	{".doc", "application/msword", classDocument},
	{".xls", "application/vnd.ms-excel", classDocument},
	{".ppt", "application/vnd.ms-powerpoint", classDocument},
	{".docx", mimeDOCX, classDocument},
	{".xlsx", mimeXLSX, classDocument},
	{".pptx", mimePPTX, classDocument},
	{".png", "image/png", classImage},
	{".jpg", "image/jpeg", classImage},
	{".jpeg", "image/jpeg", classImage},
	{".gif", "image/gif", classImage},
	{".webp", "image/webp", classImage},

	// Known but not allowed by default.
	{".svg", "image/svg+xml", classText}, // may carry scripts
	{".bmp", "image/bmp", classImage},
	{".tif", "image/tiff", classImage},
	{".tiff", "image/tiff", classImage},
	{".ico", "image/x-icon", classImage},
	{".avif", "image/avif", classImage},
	{".heic", "image/heic", classImage},
	{".rtf", "application/rtf", classText}, // can embed OLE objects

	// Executables.
	{".exe", mimePE, classExecutable},
	{".dll", mimePE, classExecutable},
	{".scr", mimePE, classExecutable},
	{".sys", mimePE, classExecutable},
	{".com", "application/x-msdos-program", classExecutable},
	{".msi", "application/x-msi", classExecutable},
	{".lnk", "application/x-ms-shortcut", classExecutable},
	{".elf", mimeELF, classExecutable},
	{".so", mimeELF, classExecutable},
	{".o", mimeELF, classExecutable},
	{".bin", mimeELF, classExecutable},
	{".out", mimeELF, classExecutable},
	{".dylib", mimeMachO, classExecutable},
	{".class", "application/java-vm", classExecutable},
	{".wasm", "application/wasm", classExecutable},
	{".dex", "application/vnd.android.dex", classExecutable},

	// Scripts, and Office documents that carry macros.
	{".sh", "application/x-sh", classScript},
	{".bash", "application/x-sh", classScript},
	{".zsh", "application/x-sh", classScript},
	{".ksh", "application/x-sh", classScript},
	{".csh", "application/x-csh", classScript},
	{".fish", "application/x-sh", classScript},
	{".py", "text/x-python", classScript},
	{".pyw", "text/x-python", classScript},
	{".rb", "text/x-ruby", classScript},
	{".pl", "text/x-perl", classScript},
	{".pm", "text/x-perl", classScript},
	{".php", "application/x-httpd-php", classScript},
	{".js", "text/javascript", classScript},
	{".mjs", "text/javascript", classScript},
	{".cjs", "text/javascript", classScript},
	{".ts", "text/x-typescript", classScript},
	{".lua", "text/x-lua", classScript},
	{".tcl", "text/x-tcl", classScript},
	{".bat", "application/x-bat", classScript},
	{".cmd", "application/x-bat", classScript},
	{".ps1", "application/x-powershell", classScript},
	{".psm1", "application/x-powershell", classScript},
	{".vbs", "text/vbscript", classScript},
	{".vbe", "text/vbscript", classScript},
	{".wsf", "application/x-wsh", classScript},
	{".hta", "application/hta", classScript},
	{".docm", mimeDOCM, classExecutable},
	{".xlsm", mimeXLSM, classExecutable},
	{".pptm", mimePPTM, classExecutable},

	// Archives and disk images.
	{".zip", mimeZip, classArchive},
	{".jar", "application/java-archive", classArchive},
	{".war", "application/java-archive", classArchive},
	{".apk", "application/vnd.android.package-archive", classArchive},
	{".gz", "application/gzip", classArchive},
	{".tgz", "application/gzip", classArchive},
	{".tar", "application/x-tar", classArchive},
	{".bz2", "application/x-bzip2", classArchive},
	{".xz", "application/x-xz", classArchive},
	{".zst", "application/zstd", classArchive},
	{".z", "application/x-compress", classArchive},
	{".7z", "application/x-7z-compressed", classArchive},
	{".rar", "application/vnd.rar", classArchive},
	{".cab", "application/vnd.ms-cab-compressed", classArchive},
	{".deb", "application/vnd.debian.binary-package", classArchive},
	{".rpm", "application/x-rpm", classArchive},
	{".iso", "application/x-iso9660-image", classArchive},
	{".dmg", "application/x-apple-diskimage", classArchive},

	// Video.
	{".mp4", "video/mp4", classVideo},
	{".m4v", "video/mp4", classVideo},
	{".mov", "video/quicktime", classVideo},
	{".avi", "video/x-msvideo", classVideo},
	{".mkv", "video/x-matroska", classVideo},
	{".webm", "video/webm", classVideo},
	{".wmv", "video/x-ms-asf", classVideo},
	{".flv", "video/x-flv", classVideo},
	{".mpg", "video/mpeg", classVideo},
	{".mpeg", "video/mpeg", classVideo},
	{".3gp", "video/3gpp", classVideo},

	// Audio.
	{".mp3", "audio/mpeg", classAudio},
	{".wav", "audio/wav", classAudio},
	{".ogg", "audio/ogg", classAudio},
	{".oga", "audio/ogg", classAudio},
	{".opus", "audio/ogg", classAudio},
	{".flac", "audio/flac", classAudio},
	{".aac", "audio/aac", classAudio},
	{".m4a", "audio/mp4", classAudio},
	{".mid", "audio/midi", classAudio},
	{".midi", "audio/midi", classAudio},
	{".aiff", "audio/aiff", classAudio},
}

// typeFor returns the type a validated path's extension names, or a refusal if the extension is
// unknown or its type is not allowed. It touches no file.
func (t *Tools) typeFor(clean string) (fileType, error) {
	ext := strings.ToLower(path.Ext(clean))
	ft, ok := t.byExt[ext]
	switch {
	case ext == "" || ext == ".":
		return fileType{}, refusef("%s has no file extension; only files of a known type (such as .txt, .md, .json, .pdf, .png) can be used", quote(clean))
	case !ok:
		return fileType{}, refusef("the extension %s is not a known file type", quote(ext))
	case !t.permitted(ft.mime):
		return fileType{}, refusef("%s files (%s, %s) are blocked", ext, ft.mime, ft.class)
	}
	return ft, nil
}

// checkContent returns why data is not a file of type ft, or "" if it is.
func checkContent(ft fileType, data []byte) string {
	if ft.textual() {
		if got := magic(data); got != "" && !(got == mimeShebang && ft.class == classScript) {
			return fmt.Sprintf("the content is %s, not %s as the extension %s says", describe(got), ft.mime, ft.ext)
		}
		if problem := textProblem(data); problem != "" {
			return fmt.Sprintf("the content is not text (%s), but the extension %s says %s", problem, ft.ext, ft.mime)
		}
		return ""
	}
	got := sniff(data, ft.mime)
	if got == ft.mime {
		return ""
	}
	if len(data) == 0 {
		return fmt.Sprintf("the content is empty, which is not %s as the extension %s says", ft.mime, ft.ext)
	}
	return fmt.Sprintf("the content is %s, not %s as the extension %s says", describe(got), ft.mime, ft.ext)
}

// describe names a sniffed type for a refusal message.
func describe(mime string) string {
	switch mime {
	case mimeText:
		return "text"
	case mimeShebang:
		return "a script (it starts with #!)"
	case mimeVBA:
		return "an Office document with VBA macros"
	case mimeDOCM, mimeXLSM, mimePPTM:
		return "an Office document with VBA macros (" + mime + ")"
	case mimeELF, mimePE, mimeMachO:
		return "an executable (" + mime + ")"
	case mimeZip:
		return "a zip archive (application/zip)"
	}
	return mime
}
