package weights

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// floatBytes is v's memory as bytes.
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// fromLittleEndian turns v, read as little-endian bytes, into this
// machine's floats: nothing to do on a little-endian one.
func fromLittleEndian(v []float32) {
	if littleEndian() {
		return
	}
	b := floatBytes(v)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
}

// asFloats is b's memory as float32s where b holds them as this machine
// does: 4-byte aligned, on a little-endian machine.
func asFloats(b []byte) ([]float32, bool) {
	if len(b) == 0 || len(b)%4 != 0 || uintptr(unsafe.Pointer(&b[0]))%4 != 0 || !littleEndian() {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// littleEndian reports whether this machine stores numbers low byte first.
func littleEndian() bool { return binary.NativeEndian.Uint16([]byte{1, 0}) == 1 }
