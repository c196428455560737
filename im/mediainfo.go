package im

import (
	"encoding/binary"
	"io"
	"time"
)

// mediaDuration reads the length of WAV audio or of an ISO base media
// file (MP4, MOV, M4A) from its header, or 0 when the bytes are neither
// or say nothing usable. It reads a few small pieces, never the whole
// file, and trusts none of the sizes it meets.
func mediaDuration(r io.ReaderAt, size int64) time.Duration {
	var magic [12]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil {
		return 0
	}
	switch {
	case string(magic[0:4]) == "RIFF" && string(magic[8:12]) == "WAVE":
		return wavDuration(r, size)
	case string(magic[4:8]) == "ftyp" || string(magic[4:8]) == "moov":
		return mp4Duration(r, size)
	}
	return 0
}

// maxBoxes bounds the chunks or boxes walked in a header, so that a file
// of a million tiny boxes is not walked whole.
const maxBoxes = 1000

// wavDuration is the data chunk's size over the fmt chunk's byte rate.
func wavDuration(r io.ReaderAt, size int64) time.Duration {
	var byteRate, dataSize uint32
	var hdr [8]byte
	for off, n := int64(12), 0; off+8 <= size && n < maxBoxes; n++ {
		if _, err := r.ReadAt(hdr[:], off); err != nil {
			return 0
		}
		id, chunk := string(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
		switch id {
		case "fmt ":
			var f [12]byte // format, channels, sample rate, byte rate
			if chunk < 12 {
				return 0
			}
			if _, err := r.ReadAt(f[:], off+8); err != nil {
				return 0
			}
			byteRate = binary.LittleEndian.Uint32(f[8:12])
		case "data":
			dataSize = uint32(min(chunk, size-off-8))
			if byteRate == 0 {
				return 0
			}
			return time.Duration(float64(dataSize) / float64(byteRate) * float64(time.Second))
		}
		off += 8 + chunk + chunk&1 // chunks are padded to an even size
	}
	return 0
}

// mp4Duration is the movie header's (moov/mvhd) duration over its
// timescale.
func mp4Duration(r io.ReaderAt, size int64) time.Duration {
	moov, moovSize, ok := findBox(r, 0, size, "moov")
	if !ok {
		return 0
	}
	mvhd, mvhdSize, ok := findBox(r, moov, moov+moovSize, "mvhd")
	if !ok || mvhdSize < 4 {
		return 0
	}
	var v [1]byte
	if _, err := r.ReadAt(v[:], mvhd); err != nil {
		return 0
	}
	var scale, dur uint64
	switch v[0] {
	case 0: // version, flags, creation (4), modification (4), timescale (4), duration (4)
		var b [20]byte
		if mvhdSize < 20 {
			return 0
		}
		if _, err := r.ReadAt(b[:], mvhd); err != nil {
			return 0
		}
		scale, dur = uint64(binary.BigEndian.Uint32(b[12:16])), uint64(binary.BigEndian.Uint32(b[16:20]))
	case 1: // version, flags, creation (8), modification (8), timescale (4), duration (8)
		var b [32]byte
		if mvhdSize < 32 {
			return 0
		}
		if _, err := r.ReadAt(b[:], mvhd); err != nil {
			return 0
		}
		scale, dur = uint64(binary.BigEndian.Uint32(b[20:24])), binary.BigEndian.Uint64(b[24:32])
	default:
		return 0
	}
	if scale == 0 || dur == 0 || dur == 1<<64-1 || dur/scale > maxFileSeconds {
		return 0 // 0 and all ones mean "unknown"
	}
	return time.Duration(float64(dur) / float64(scale) * float64(time.Second))
}

// findBox returns the payload offset and size of the first box of type
// typ among the boxes between from and to.
func findBox(r io.ReaderAt, from, to int64, typ string) (payload, size int64, ok bool) {
	var hdr [16]byte
	for off, n := from, 0; off+8 <= to && n < maxBoxes; n++ {
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return 0, 0, false
		}
		box, head := int64(binary.BigEndian.Uint32(hdr[0:4])), int64(8)
		switch box {
		case 0: // to the end
			box = to - off
		case 1: // a 64-bit size follows the type
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				return 0, 0, false
			}
			u := binary.BigEndian.Uint64(hdr[8:16])
			if u > uint64(to-off) {
				return 0, 0, false
			}
			box, head = int64(u), 16
		}
		if box < head || box > to-off {
			return 0, 0, false
		}
		if string(hdr[4:8]) == typ {
			return off + head, box - head, true
		}
		off += box
	}
	return 0, 0, false
}
