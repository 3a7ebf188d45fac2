package nnst

import (
	"math"

	"nnst/core/tensor"
)

// ColorMatch is NNST.md section 7: it gives out the colours of style while
// keeping its own lightness structure, working in OkLab (fed sRGB values
// directly, as the reference does). content, style and out must be RGB;
// content and out have the same size.
func ColorMatch(content, style, out *tensor.T) *tensor.T {
	x := toLab(content)
	y := toLab(style)
	o := toLab(out)
	lo, hi := channelRange(y)
	n := o.Clone()
	clampChannels(n, lo, hi)

	yab := channels(y, 1, 2)
	cov := covariance(yab)
	tiny := true
	for _, row := range cov {
		for _, v := range row {
			if math.Abs(v) >= 6e-5 {
				tiny = false
			}
		}
	}
	if tiny {
		n = zca(o, y)
	} else {
		ab := zca(channels(x, 1, 2), yab)
		copy(n.Data[n.H*n.W:], ab.Data)
		guidedSmooth(n, 5)
	}
	clampChannels(n, lo, hi)
	res := fromLab(n)
	clamp01(res)
	return res
}

func channels(t *tensor.T, from, to int) *tensor.T {
	hw := t.H * t.W
	return &tensor.T{C: to - from + 1, H: t.H, W: t.W, Data: append([]float32(nil), t.Data[from*hw:(to+1)*hw]...)}
}

func channelRange(t *tensor.T) (lo, hi []float32) {
	hw := t.H * t.W
	for c := 0; c < t.C; c++ {
		p := t.Data[c*hw : (c+1)*hw]
		l, h := p[0], p[0]
		for _, v := range p {
			l, h = min(l, v), max(h, v)
		}
		lo, hi = append(lo, l), append(hi, h)
	}
	return lo, hi
}

func clampChannels(t *tensor.T, lo, hi []float32) {
	hw := t.H * t.W
	for c := 0; c < t.C; c++ {
		p := t.Data[c*hw : (c+1)*hw]
		for i, v := range p {
			p[i] = min(max(v, lo[c]), hi[c])
		}
	}
}

func toLab(t *tensor.T) *tensor.T {
	hw := t.H * t.W
	o := tensor.New(3, t.H, t.W)
	for i := 0; i < hw; i++ {
		r := clamp64(t.Data[i])
		g := clamp64(t.Data[hw+i])
		b := clamp64(t.Data[2*hw+i])
		l := math.Cbrt(0.4122214708*r + 0.5363325363*g + 0.0514459929*b)
		m := math.Cbrt(0.2119034982*r + 0.6806995451*g + 0.1073969566*b)
		s := math.Cbrt(0.0883024619*r + 0.2817188376*g + 0.6299787005*b)
		o.Data[i] = float32(0.2104542553*l + 0.7936177850*m - 0.0040720468*s)
		o.Data[hw+i] = float32(1.9779984951*l - 2.4285922050*m + 0.4505937099*s)
		o.Data[2*hw+i] = float32(0.0259040371*l + 0.7827717662*m - 0.8086757660*s)
	}
	return o
}

func fromLab(t *tensor.T) *tensor.T {
	hw := t.H * t.W
	o := tensor.New(3, t.H, t.W)
	for i := 0; i < hw; i++ {
		L, a, b := float64(t.Data[i]), float64(t.Data[hw+i]), float64(t.Data[2*hw+i])
		l := L + 0.3963377774*a + 0.2158037573*b
		m := L - 0.1055613458*a - 0.0638541728*b
		s := L - 0.0894841775*a - 1.2914855480*b
		l, m, s = l*l*l, m*m*m, s*s*s
		o.Data[i] = float32(4.0767416621*l - 3.3077115913*m + 0.2309699292*s)
		o.Data[hw+i] = float32(-1.2684380046*l + 2.6097574011*m - 0.3413193965*s)
		o.Data[2*hw+i] = float32(-0.0041960863*l - 0.7034186147*m + 1.7076147010*s)
	}
	return o
}

func clamp64(v float32) float64 { return float64(min(max(v, 0), 1)) }

func mean(t *tensor.T) []float64 {
	hw := t.H * t.W
	m := make([]float64, t.C)
	for c := range m {
		for _, v := range t.Data[c*hw : (c+1)*hw] {
			m[c] += float64(v)
		}
		m[c] /= float64(hw)
	}
	return m
}

// covariance of the channels (normalised by the pixel count).
func covariance(t *tensor.T) [][]float64 {
	hw := t.H * t.W
	mu := mean(t)
	cov := make([][]float64, t.C)
	for i := range cov {
		cov[i] = make([]float64, t.C)
		for j := 0; j <= i; j++ {
			var s float64
			a, b := t.Data[i*hw:(i+1)*hw], t.Data[j*hw:(j+1)*hw]
			for p := range a {
				s += (float64(a[p]) - mu[i]) * (float64(b[p]) - mu[j])
			}
			cov[i][j] = s / float64(hw)
			cov[j][i] = cov[i][j]
		}
	}
	return cov
}

// zca maps the channels of a to the mean and covariance of b: whiten with
// U diag(1/sqrt(s)) U^T of a, colour with U diag(sqrt(s)) U^T of b.
func zca(a, b *tensor.T) *tensor.T {
	n := a.C
	ma, mb := mean(a), mean(b)
	ca, cb := covariance(a), covariance(b)
	for i := 0; i < n; i++ {
		ca[i][i] += 1e-4
		cb[i][i] += 1e-4
	}
	wa := symFunc(ca, func(s float64) float64 { return 1 / math.Sqrt(s) })
	cbm := symFunc(cb, math.Sqrt)
	m := matMul(cbm, wa)
	hw := a.H * a.W
	o := tensor.New(n, a.H, a.W)
	v := make([]float64, n)
	for p := 0; p < hw; p++ {
		for i := 0; i < n; i++ {
			v[i] = float64(a.Data[i*hw+p]) - ma[i]
		}
		for i := 0; i < n; i++ {
			s := mb[i]
			for j := 0; j < n; j++ {
				s += m[i][j] * v[j]
			}
			o.Data[i*hw+p] = float32(s)
		}
	}
	return o
}

func matMul(a, b [][]float64) [][]float64 {
	n := len(a)
	c := make([][]float64, n)
	for i := range c {
		c[i] = make([]float64, n)
		for j := 0; j < n; j++ {
			for k := 0; k < n; k++ {
				c[i][j] += a[i][k] * b[k][j]
			}
		}
	}
	return c
}

// symFunc returns U diag(f(s)) U^T for the symmetric matrix U diag(s) U^T,
// found with Jacobi rotations (eigenvalues floored at a tiny positive value).
func symFunc(a [][]float64, f func(float64) float64) [][]float64 {
	vals, vecs := eigSym(a)
	n := len(a)
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, n)
	}
	for k := 0; k < n; k++ {
		fk := f(math.Max(vals[k], 1e-12))
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				out[i][j] += vecs[i][k] * fk * vecs[j][k]
			}
		}
	}
	return out
}

// eigSym returns the eigenvalues and eigenvectors (as columns) of a small
// symmetric matrix by cyclic Jacobi.
func eigSym(in [][]float64) ([]float64, [][]float64) {
	n := len(in)
	a := make([][]float64, n)
	v := make([][]float64, n)
	for i := range a {
		a[i] = append([]float64(nil), in[i]...)
		v[i] = make([]float64, n)
		v[i][i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				off += a[i][j] * a[i][j]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if a[p][q] == 0 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
				for k := 0; k < n; k++ {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-s*vkq, s*vkp+c*vkq
				}
			}
		}
	}
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = a[i][i]
	}
	return vals, v
}

// guidedSmooth filters the a/b channels of a Lab image with a 3x3 kernel
// guided by L: neighbour q of p weighs exp(-5|L_p - L_q|)^2; edges are
// replicated.
func guidedSmooth(t *tensor.T, passes int) {
	h, w := t.H, t.W
	L := t.Plane(0)
	wts := make([]float32, 9*h*w)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			k := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					q := clampInt(y+dy, h)*w + clampInt(x+dx, w)
					e := math.Exp(-5 * math.Abs(float64(L[p]-L[q])))
					wts[9*p+k] = float32(e * e)
					k++
				}
			}
		}
	}
	tmp := make([]float32, h*w)
	for c := 1; c <= 2; c++ {
		ch := t.Plane(c)
		for range passes {
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					p := y*w + x
					var s, ws float32
					k := 0
					for dy := -1; dy <= 1; dy++ {
						for dx := -1; dx <= 1; dx++ {
							q := clampInt(y+dy, h)*w + clampInt(x+dx, w)
							s += wts[9*p+k] * ch[q]
							ws += wts[9*p+k]
							k++
						}
					}
					tmp[p] = s / ws
				}
			}
			copy(ch, tmp)
		}
	}
}

func clampInt(v, n int) int { return min(max(v, 0), n-1) }
