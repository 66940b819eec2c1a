package flow

import (
	"fmt"
	"math"
)

// FormatBytes formats a byte count with binary units: 512 B, 1.5 KiB, 3.2 GiB.
func FormatBytes(n float64) string {
	const unit = 1024
	if math.Abs(n) < unit {
		return fmt.Sprintf("%.0f B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for math.Abs(n) >= unit && i < len(units)-1 {
		n /= unit
		i++
	}
	if math.Abs(n) >= 100 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// FormatRate formats a byte rate with binary units: 1.5 KiB/s.
func FormatRate(bytesPerSecond float64) string {
	return FormatBytes(bytesPerSecond) + "/s"
}
