package nnst

import "math"

// coarse runs NNST's per-scale optimisation (Best's scales) at the coarse
// scales fp.CoarseFrom and above only, at fp.Coarse steps each, from the
// blurred content, and returns the pyramid of the content's size whose
// bands from the finest scale run are the result (the finer bands are the
// content's, zeroed as Best starts). cT and sT are the content and style at
// the pass size. nil if no scale fits.
func (r *run) coarse(cT, sT Tensor, fp FastParams) ([]Tensor, int, error) {
	be := r.be
	_, ch, cw := cT.Shape()
	_, sh, sw := sT.Shape()
	n := min(scalesFor(4, ch, cw), scalesFor(4, sh, sw))
	top := min(n-1, fp.CoarseFrom+fp.CoarseScales-1)
	if top < fp.CoarseFrom {
		return nil, 0, nil
	}
	C := Dec(be, cT, Levels(ch, cw))
	S := Dec(be, sT, Levels(sh, sw))
	P := Dec(be, cT, Levels(ch, cw))
	defer func() { be.Free(C...); be.Free(S...) }()
	for i := 0; i < min(3, len(P)-1); i++ {
		c, h, w := P[i].Shape()
		be.Free(P[i])
		P[i] = be.Zeros(c, h, w)
	}
	a := float32(1 - r.o.Alpha)
	for k, scl := 0, top; scl >= fp.CoarseFrom; k, scl = k+1, scl-1 {
		if err := r.cancelled(); err != nil {
			be.Free(P...)
			return nil, 0, err
		}
		styleS := Syn(be, S[scl:])
		contentS := Syn(be, C[scl:])
		q := a
		if k == 0 {
			q = 0
		}
		probe := Syn(be, append([]Tensor{C[scl]}, P[scl+1:]...))
		query := be.Axpby(q, probe, 1-q, contentS)
		be.Free(probe)
		target := r.matchTarget(query, styleS)
		be.Free(query)
		cost := math.Pow(0.25, float64(scl))
		r.add(10 * cost)
		err := r.optimiseHypercolumn(P[scl:], target, contentS, 1, 1, cost, fp.Coarse, rate(fp.CoarseLR, fp.Coarse))
		be.Free(target, contentS)
		if err == nil {
			err = be.Err()
		}
		if err != nil {
			be.Free(P...)
			return nil, 0, err
		}
	}
	return P, fp.CoarseFrom, nil
}
