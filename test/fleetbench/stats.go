package fleetbench

import "sort"

// Figure is one figure over the runs: its median and spread. The machines are shared and noisy;
// a single run cannot tell a 5 % difference from noise, the spread says how far to trust it.
type Figure struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}

// FigureOf summarises one figure's values over the runs.
func FigureOf(values []float64) Figure {
	if len(values) == 0 {
		return Figure{}
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	f := Figure{Min: v[0], Max: v[len(v)-1], Runs: len(v)}
	if n := len(v); n%2 == 1 {
		f.Median = v[n/2]
	} else {
		f.Median = (v[n/2-1] + v[n/2]) / 2
	}
	return f
}

// SpreadPercent is the spread (max - min) as a percentage of the median.
func (f Figure) SpreadPercent() float64 {
	if f.Median == 0 {
		return 0
	}
	return (f.Max - f.Min) / f.Median * 100
}
