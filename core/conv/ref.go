package conv

// ForwardRef is the plain-loop reference of Layer.Forward: out (cout x h x w)
// = 3x3 conv (stride 1, zero padding 1) of in (cin x h x w) + bias, then ReLU
// if relu. weight is OIHW.
func ForwardRef(in []float32, cin, h, w int, weight, bias []float32, cout int, relu bool, out []float32) {
	for co := 0; co < cout; co++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				s := float64(bias[co])
				for ci := 0; ci < cin; ci++ {
					for ky := 0; ky < 3; ky++ {
						sy := y + ky - 1
						if sy < 0 || sy >= h {
							continue
						}
						for kx := 0; kx < 3; kx++ {
							sx := x + kx - 1
							if sx < 0 || sx >= w {
								continue
							}
							s += float64(weight[((co*cin+ci)*3+ky)*3+kx]) * float64(in[(ci*h+sy)*w+sx])
						}
					}
				}
				if relu && s < 0 {
					s = 0
				}
				out[(co*h+y)*w+x] = float32(s)
			}
		}
	}
}

// BackwardDataRef is the plain-loop reference of Layer.BackwardData: dIn
// (cin x h x w) = gradient of the conv (without bias and ReLU) with respect
// to its input, given dOut (cout x h x w).
func BackwardDataRef(dOut []float32, cout, h, w int, weight []float32, cin int, dIn []float32) {
	acc := make([]float64, cin*h*w)
	for co := 0; co < cout; co++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				g := float64(dOut[(co*h+y)*w+x])
				if g == 0 {
					continue
				}
				for ci := 0; ci < cin; ci++ {
					for ky := 0; ky < 3; ky++ {
						sy := y + ky - 1
						if sy < 0 || sy >= h {
							continue
						}
						for kx := 0; kx < 3; kx++ {
							sx := x + kx - 1
							if sx < 0 || sx >= w {
								continue
							}
							acc[(ci*h+sy)*w+sx] += g * float64(weight[((co*cin+ci)*3+ky)*3+kx])
						}
					}
				}
			}
		}
	}
	for i, v := range acc {
		dIn[i] = float32(v)
	}
}
