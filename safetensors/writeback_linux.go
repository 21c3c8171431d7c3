package safetensors

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to begin writing [off, off+n) of f to disk
// without waiting (sync_file_range SYNC_FILE_RANGE_WRITE), so the disk works
// while later tensors are still being copied and the final fsync has little
// left to do. Errors are ignored: fsync reports real ones.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2
	syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
}
