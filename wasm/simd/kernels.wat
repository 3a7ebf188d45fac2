;; nnst CPU kernels for the browser: WebAssembly SIMD128 over a shared
;; memory, run by several Web Workers at once (web/simd-worker.js).
;;
;; Every exported kernel is called as f(p, wid) by each worker: p is the
;; byte address of a parameter block of i32 words, wid the worker index.
;; Words 0-3 are common: 0 the tile counter (workers take tiles with an
;; atomic add until it passes the count), 1 the tile count, 2 the scratch
;; base, 3 the scratch bytes per worker. The rest are per kernel.
;;
;; Matrices are row-major f32. The GEMM core is a 4x8 register tile:
;; A is packed in panels of 4 rows (panel[k*4+r]), B in panels of 8 columns
;; (panel[k*8+c]), so the inner loop reads both sequentially.
(module
  (import "env" "mem" (memory 1 65536 shared))

  (func $param (param $p i32) (param $i i32) (result i32)
    (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))

  (func $next (param $p i32) (result i32)
    (i32.atomic.rmw.add (local.get $p) (i32.const 1)))

  (func $scratch (param $p i32) (param $wid i32) (result i32)
    (i32.add (call $param (local.get $p) (i32.const 2))
      (i32.mul (local.get $wid) (call $param (local.get $p) (i32.const 3)))))

  ;; mk writes the 4x8 tile A-panel * B-panel (k steps) to t (rows of 32
  ;; bytes), adding to what t holds if acc.
  (func $mk (param $a i32) (param $b i32) (param $k i32) (param $t i32) (param $acc i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $av v128)
    (if (local.get $acc)
      (then
        (local.set $c00 (v128.load offset=0 (local.get $t)))
        (local.set $c01 (v128.load offset=16 (local.get $t)))
        (local.set $c10 (v128.load offset=32 (local.get $t)))
        (local.set $c11 (v128.load offset=48 (local.get $t)))
        (local.set $c20 (v128.load offset=64 (local.get $t)))
        (local.set $c21 (v128.load offset=80 (local.get $t)))
        (local.set $c30 (v128.load offset=96 (local.get $t)))
        (local.set $c31 (v128.load offset=112 (local.get $t)))))
    (block $done4
      (br_if $done4 (i32.lt_s (local.get $k) (i32.const 4)))
      (loop $k4
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $av (v128.load32_splat offset=0 (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=4 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=8 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=12 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $b0 (v128.load offset=32 (local.get $b)))
        (local.set $b1 (v128.load offset=48 (local.get $b)))
        (local.set $av (v128.load32_splat offset=16 (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=20 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=24 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=28 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $b0 (v128.load offset=64 (local.get $b)))
        (local.set $b1 (v128.load offset=80 (local.get $b)))
        (local.set $av (v128.load32_splat offset=32 (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=36 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=40 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=44 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $b0 (v128.load offset=96 (local.get $b)))
        (local.set $b1 (v128.load offset=112 (local.get $b)))
        (local.set $av (v128.load32_splat offset=48 (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=52 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=56 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=60 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (i32.const 64)))
        (local.set $b (i32.add (local.get $b) (i32.const 128)))
        (local.set $k (i32.sub (local.get $k) (i32.const 4)))
        (br_if $k4 (i32.ge_s (local.get $k) (i32.const 4)))))
    (block $done1
      (br_if $done1 (i32.eqz (local.get $k)))
      (loop $k1
        (local.set $b0 (v128.load offset=0 (local.get $b)))
        (local.set $b1 (v128.load offset=16 (local.get $b)))
        (local.set $av (v128.load32_splat offset=0 (local.get $a)))
        (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=4 (local.get $a)))
        (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=8 (local.get $a)))
        (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $av (v128.load32_splat offset=12 (local.get $a)))
        (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $av) (local.get $b0))))
        (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $av) (local.get $b1))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
        (br_if $k1 (local.get $k))))
    (v128.store offset=0 (local.get $t) (local.get $c00))
    (v128.store offset=16 (local.get $t) (local.get $c01))
    (v128.store offset=32 (local.get $t) (local.get $c10))
    (v128.store offset=48 (local.get $t) (local.get $c11))
    (v128.store offset=64 (local.get $t) (local.get $c20))
    (v128.store offset=80 (local.get $t) (local.get $c21))
    (v128.store offset=96 (local.get $t) (local.get $c30))
    (v128.store offset=112 (local.get $t) (local.get $c31)))

  ;; pack: A (rows x k, row-major) into panels of 4 rows, zero-padded.
  ;; Words: 4 src, 5 rows, 6 k, 7 dst. One tile is 16 panels.
  (func (export "pack") (param $p i32) (param $wid i32)
    (local $t i32) (local $nt i32) (local $src i32) (local $rows i32) (local $k i32) (local $dst i32)
    (local $ip i32) (local $ip1 i32) (local $r i32) (local $i i32) (local $s i32) (local $d i32)
    (local.set $nt (call $param (local.get $p) (i32.const 1)))
    (local.set $src (call $param (local.get $p) (i32.const 4)))
    (local.set $rows (call $param (local.get $p) (i32.const 5)))
    (local.set $k (call $param (local.get $p) (i32.const 6)))
    (local.set $dst (call $param (local.get $p) (i32.const 7)))
    (block $out
      (loop $tiles
        (local.set $t (call $next (local.get $p)))
        (br_if $out (i32.ge_u (local.get $t) (local.get $nt)))
        (local.set $ip (i32.mul (local.get $t) (i32.const 16)))
        (local.set $ip1 (i32.add (local.get $ip) (i32.const 16)))
        (block $pdone
          (loop $panels
            (br_if $pdone (i32.ge_u (i32.mul (local.get $ip) (i32.const 4)) (local.get $rows)))
            (br_if $pdone (i32.ge_u (local.get $ip) (local.get $ip1)))
            (local.set $r (i32.const 0))
            (loop $rowl
              (local.set $d (i32.add (local.get $dst)
                (i32.shl (i32.add (i32.mul (local.get $ip) (i32.mul (local.get $k) (i32.const 4))) (local.get $r)) (i32.const 2))))
              (local.set $i (i32.const 0))
              (if (i32.lt_u (i32.add (i32.mul (local.get $ip) (i32.const 4)) (local.get $r)) (local.get $rows))
                (then
                  (local.set $s (i32.add (local.get $src)
                    (i32.shl (i32.mul (i32.add (i32.mul (local.get $ip) (i32.const 4)) (local.get $r)) (local.get $k)) (i32.const 2))))
                  (block $cdone
                    (loop $copy
                      (br_if $cdone (i32.ge_u (local.get $i) (local.get $k)))
                      (f32.store (local.get $d) (f32.load (local.get $s)))
                      (local.set $s (i32.add (local.get $s) (i32.const 4)))
                      (local.set $d (i32.add (local.get $d) (i32.const 16)))
                      (local.set $i (i32.add (local.get $i) (i32.const 1)))
                      (br $copy))))
                (else
                  (block $zdone
                    (loop $zero
                      (br_if $zdone (i32.ge_u (local.get $i) (local.get $k)))
                      (f32.store (local.get $d) (f32.const 0))
                      (local.set $d (i32.add (local.get $d) (i32.const 16)))
                      (local.set $i (i32.add (local.get $i) (i32.const 1)))
                      (br $zero)))))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br_if $rowl (i32.lt_u (local.get $r) (i32.const 4))))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (br $panels)))
        (br $tiles))))

  ;; im2col8 writes rows k0..k0+kb-1 (row ci*9+ky*3+kx) of the 3x3 patches
  ;; of output pixels j0..j0+np*8-1 (those from n on are zero) as np panels
  ;; of 8 columns, kb rows each.
  (func $im2col8 (param $src i32) (param $h i32) (param $w i32)
      (param $j0 i32) (param $n i32) (param $np i32) (param $bp i32) (param $k0 i32) (param $kb i32)
    (local $kk i32) (local $ci i32) (local $ky i32) (local $kx i32)
    (local $plane i32) (local $y i32) (local $x i32) (local $g i32) (local $j i32)
    (local $sy i32) (local $sx i32) (local $d i32) (local $jj i32) (local $v f32)
    (local $y0 i32) (local $x0 i32) (local $hw i32)
    (local.set $hw (i32.mul (local.get $h) (local.get $w)))
    (local.set $y0 (i32.div_u (local.get $j0) (local.get $w)))
    (local.set $x0 (i32.rem_u (local.get $j0) (local.get $w)))
    (local.set $kk (i32.const 0))
    (loop $kl
      (local.set $ci (i32.div_u (i32.add (local.get $k0) (local.get $kk)) (i32.const 9)))
      (local.set $kx (i32.rem_u (i32.add (local.get $k0) (local.get $kk)) (i32.const 9)))
      (local.set $ky (i32.sub (i32.div_u (local.get $kx) (i32.const 3)) (i32.const 1)))
      (local.set $kx (i32.sub (i32.rem_u (local.get $kx) (i32.const 3)) (i32.const 1)))
      (local.set $plane (i32.add (local.get $src) (i32.shl (i32.mul (local.get $ci) (local.get $hw)) (i32.const 2))))
      (local.set $y (local.get $y0))
      (local.set $x (local.get $x0))
      (local.set $j (i32.const 0))
      (local.set $g (i32.const 0))
      (loop $gl
        (local.set $d (i32.add (local.get $bp)
          (i32.shl (i32.add (i32.mul (local.get $g) (local.get $kb)) (local.get $kk)) (i32.const 5))))
        (local.set $sy (i32.add (local.get $y) (local.get $ky)))
        (local.set $sx (i32.add (local.get $x) (local.get $kx)))
        (if (i32.and
              (i32.le_s (i32.add (local.get $j) (i32.const 8)) (local.get $n))
              (i32.le_s (i32.add (local.get $x) (i32.const 8)) (local.get $w)))
          (then
            ;; 8 pixels on one image row: zeros above or below the image,
            ;; else two vector loads, shifted by a lane at the left and
            ;; right edges (nothing is read outside the row)
            (if (i32.ge_u (local.get $sy) (local.get $h))
              (then
                (v128.store (local.get $d) (v128.const i32x4 0 0 0 0))
                (v128.store offset=16 (local.get $d) (v128.const i32x4 0 0 0 0)))
              (else
                (local.set $sy (i32.add (local.get $plane)
                  (i32.shl (i32.add (i32.mul (local.get $sy) (local.get $w)) (local.get $x)) (i32.const 2))))
                (if (i32.lt_s (local.get $sx) (i32.const 0))
                  (then
                    (v128.store (local.get $d) (i8x16.shuffle 0 1 2 3 16 17 18 19 20 21 22 23 24 25 26 27
                      (v128.const i32x4 0 0 0 0) (v128.load (local.get $sy))))
                    (v128.store offset=16 (local.get $d) (v128.load offset=12 (local.get $sy))))
                  (else
                    (if (i32.gt_s (i32.add (local.get $sx) (i32.const 8)) (local.get $w))
                      (then
                        (v128.store (local.get $d) (v128.load offset=4 (local.get $sy)))
                        (v128.store offset=16 (local.get $d) (i8x16.shuffle 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19
                          (v128.load offset=16 (local.get $sy)) (v128.const i32x4 0 0 0 0))))
                      (else
                        (local.set $sy (i32.add (local.get $sy) (i32.shl (local.get $kx) (i32.const 2))))
                        (v128.store (local.get $d) (v128.load (local.get $sy)))
                        (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $sy)))))))))
            (local.set $x (i32.add (local.get $x) (i32.const 8)))
            (if (i32.ge_s (local.get $x) (local.get $w))
              (then
                (local.set $x (i32.sub (local.get $x) (local.get $w)))
                (local.set $y (i32.add (local.get $y) (i32.const 1))))))
          (else
            (local.set $jj (i32.const 0))
            (loop $pix
              (local.set $v (f32.const 0))
              (local.set $sy (i32.add (local.get $y) (local.get $ky)))
              (local.set $sx (i32.add (local.get $x) (local.get $kx)))
              (if (i32.and
                    (i32.lt_s (i32.add (local.get $j) (local.get $jj)) (local.get $n))
                    (i32.and (i32.lt_u (local.get $sy) (local.get $h)) (i32.lt_u (local.get $sx) (local.get $w))))
                (then
                  (local.set $v (f32.load (i32.add (local.get $plane)
                    (i32.shl (i32.add (i32.mul (local.get $sy) (local.get $w)) (local.get $sx)) (i32.const 2)))))))
              (f32.store (i32.add (local.get $d) (i32.shl (local.get $jj) (i32.const 2))) (local.get $v))
              (local.set $x (i32.add (local.get $x) (i32.const 1)))
              (if (i32.eq (local.get $x) (local.get $w))
                (then
                  (local.set $x (i32.const 0))
                  (local.set $y (i32.add (local.get $y) (i32.const 1)))))
              (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
              (br_if $pix (i32.lt_u (local.get $jj) (i32.const 8))))))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br_if $gl (i32.lt_u (local.get $g) (local.get $np))))
      (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
      (br_if $kl (i32.lt_u (local.get $kk) (local.get $kb)))))

  ;; conv: dst (cout x h*w) = A * im2col(src) [+ bias] [then ReLU], a 3x3
  ;; conv with zero padding 1; A is the packed cout x cin*9 weight matrix.
  ;; Words: 4 src, 5 cin, 6 h, 7 w, 8 A, 9 cout, 10 bias (0: none),
  ;; 11 relu, 12 dst, 13 pixels per tile (a multiple of 8), 14 k block.
  ;; Scratch: the B block (kblock*tile floats), then the C tile in 4x8
  ;; blocks (cout rounded up to 4, times tile floats).
  (func (export "conv") (param $p i32) (param $wid i32)
    (local $t i32) (local $ntiles i32) (local $src i32) (local $cin i32) (local $h i32) (local $w i32)
    (local $a i32) (local $cout i32) (local $bias i32) (local $relu i32) (local $dst i32) (local $nt i32)
    (local $k i32) (local $hw i32) (local $bp i32) (local $ct i32) (local $tmp i32) (local $j0 i32) (local $n i32) (local $np i32)
    (local $ip i32) (local $jp i32) (local $rows i32) (local $cols i32) (local $r i32) (local $c i32) (local $i i32)
    (local $kc i32) (local $k0 i32) (local $kb i32) (local $npan i32)
    (local $v0 v128) (local $v1 v128) (local $bv v128)
    (local.set $ntiles (call $param (local.get $p) (i32.const 1)))
    (local.set $src (call $param (local.get $p) (i32.const 4)))
    (local.set $cin (call $param (local.get $p) (i32.const 5)))
    (local.set $h (call $param (local.get $p) (i32.const 6)))
    (local.set $w (call $param (local.get $p) (i32.const 7)))
    (local.set $a (call $param (local.get $p) (i32.const 8)))
    (local.set $cout (call $param (local.get $p) (i32.const 9)))
    (local.set $bias (call $param (local.get $p) (i32.const 10)))
    (local.set $relu (call $param (local.get $p) (i32.const 11)))
    (local.set $dst (call $param (local.get $p) (i32.const 12)))
    (local.set $nt (call $param (local.get $p) (i32.const 13)))
    (local.set $kc (call $param (local.get $p) (i32.const 14)))
    (local.set $k (i32.mul (local.get $cin) (i32.const 9)))
    (local.set $hw (i32.mul (local.get $h) (local.get $w)))
    (local.set $npan (i32.shr_u (i32.add (local.get $cout) (i32.const 3)) (i32.const 2)))
    (local.set $bp (call $scratch (local.get $p) (local.get $wid)))
    (local.set $ct (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $kc) (local.get $nt)) (i32.const 2))))
    (block $out
      (loop $tiles
        (local.set $t (call $next (local.get $p)))
        (br_if $out (i32.ge_u (local.get $t) (local.get $ntiles)))
        (local.set $j0 (i32.mul (local.get $t) (local.get $nt)))
        (local.set $n (i32.sub (local.get $hw) (local.get $j0)))
        (if (i32.gt_s (local.get $n) (local.get $nt)) (then (local.set $n (local.get $nt))))
        (local.set $np (i32.shr_u (i32.add (local.get $n) (i32.const 7)) (i32.const 3)))
        (local.set $k0 (i32.const 0))
        (loop $kblocks
          (local.set $kb (i32.sub (local.get $k) (local.get $k0)))
          (if (i32.gt_s (local.get $kb) (local.get $kc)) (then (local.set $kb (local.get $kc))))
          (call $im2col8 (local.get $src) (local.get $h) (local.get $w)
            (local.get $j0) (local.get $n) (local.get $np) (local.get $bp) (local.get $k0) (local.get $kb))
          (local.set $ip (i32.const 0))
          (loop $rowp
            (local.set $jp (i32.const 0))
            (loop $colp
              (call $mk
                (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $ip) (local.get $k)) (local.get $k0)) (i32.const 4)))
                (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $jp) (local.get $kb)) (i32.const 5)))
                (local.get $kb)
                (i32.add (local.get $ct) (i32.shl (i32.add (i32.mul (local.get $ip) (local.get $np)) (local.get $jp)) (i32.const 7)))
                (local.get $k0))
              (local.set $jp (i32.add (local.get $jp) (i32.const 1)))
              (br_if $colp (i32.lt_u (local.get $jp) (local.get $np))))
            (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
            (br_if $rowp (i32.lt_u (local.get $ip) (local.get $npan))))
          (local.set $k0 (i32.add (local.get $k0) (local.get $kb)))
          (br_if $kblocks (i32.lt_u (local.get $k0) (local.get $k))))
        ;; epilogue: bias, ReLU, store
        (local.set $ip (i32.const 0))
        (loop $rowp2
          (local.set $rows (i32.sub (local.get $cout) (i32.shl (local.get $ip) (i32.const 2))))
          (if (i32.gt_s (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
          (local.set $jp (i32.const 0))
          (loop $colp2
            (local.set $tmp (i32.add (local.get $ct) (i32.shl (i32.add (i32.mul (local.get $ip) (local.get $np)) (local.get $jp)) (i32.const 7))))
            (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $jp) (i32.const 3))))
            (if (i32.gt_s (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
            (local.set $r (i32.const 0))
            (loop $rl
              (local.set $v0 (v128.load (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5)))))
              (local.set $v1 (v128.load offset=16 (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5)))))
              (if (local.get $bias)
                (then
                  (local.set $bv (v128.load32_splat (i32.add (local.get $bias)
                    (i32.shl (i32.add (i32.shl (local.get $ip) (i32.const 2)) (local.get $r)) (i32.const 2)))))
                  (local.set $v0 (f32x4.add (local.get $v0) (local.get $bv)))
                  (local.set $v1 (f32x4.add (local.get $v1) (local.get $bv)))))
              (if (local.get $relu)
                (then
                  (local.set $v0 (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $v0)))
                  (local.set $v1 (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $v1)))))
              ;; c: address of C[ip*4+r][j0+jp*8]
              (local.set $c (i32.add (local.get $dst) (i32.shl
                (i32.add (i32.mul (i32.add (i32.shl (local.get $ip) (i32.const 2)) (local.get $r)) (local.get $hw))
                  (i32.add (local.get $j0) (i32.shl (local.get $jp) (i32.const 3)))) (i32.const 2))))
              (if (i32.eq (local.get $cols) (i32.const 8))
                (then
                  (v128.store (local.get $c) (local.get $v0))
                  (v128.store offset=16 (local.get $c) (local.get $v1)))
                (else
                  ;; row r of the tile is spent: reuse it to spill
                  (local.set $i (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5))))
                  (v128.store (local.get $i) (local.get $v0))
                  (v128.store offset=16 (local.get $i) (local.get $v1))
                  (local.set $cols (i32.add (local.get $i) (i32.shl (local.get $cols) (i32.const 2))))
                  (loop $el
                    (f32.store (local.get $c) (f32.load (local.get $i)))
                    (local.set $c (i32.add (local.get $c) (i32.const 4)))
                    (local.set $i (i32.add (local.get $i) (i32.const 4)))
                    (br_if $el (i32.lt_u (local.get $i) (local.get $cols))))
                  (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $jp) (i32.const 3))))))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br_if $rl (i32.lt_u (local.get $r) (local.get $rows))))
            (local.set $jp (i32.add (local.get $jp) (i32.const 1)))
            (br_if $colp2 (i32.lt_u (local.get $jp) (local.get $np))))
          (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
          (br_if $rowp2 (i32.lt_u (local.get $ip) (local.get $npan))))
        (br $tiles))))

  ;; maxpool: 2x2 max-pool, stride 2 (odd sizes floor), of src (c x h x w)
  ;; to dst (c x h/2 x w/2), and where idx is not 0 the index in src
  ;; (c*h*w + y*w + x) of each maximum: the first of top-left, top-right,
  ;; bottom-left, bottom-right that is larger, or NaN, as ops.MaxPool2.
  ;; Words: 4 src, 5 c, 6 h, 7 w, 8 dst, 9 idx (0: none), 10 output rows
  ;; per tile.
  (func (export "maxpool") (param $p i32) (param $wid i32)
    (local $t i32) (local $ntiles i32) (local $src i32) (local $c i32) (local $h i32) (local $w i32)
    (local $dst i32) (local $idx i32) (local $rpt i32) (local $oh i32) (local $ow i32)
    (local $r i32) (local $r1 i32) (local $ox i32) (local $top i32) (local $d i32) (local $di i32) (local $base i32)
    (local $t0 v128) (local $t1 v128) (local $b0 v128) (local $b1 v128)
    (local $bv v128) (local $bo v128) (local $v v128) (local $m v128)
    (local $s f32) (local $sv f32) (local $so i32)
    (local.set $ntiles (call $param (local.get $p) (i32.const 1)))
    (local.set $src (call $param (local.get $p) (i32.const 4)))
    (local.set $c (call $param (local.get $p) (i32.const 5)))
    (local.set $h (call $param (local.get $p) (i32.const 6)))
    (local.set $w (call $param (local.get $p) (i32.const 7)))
    (local.set $dst (call $param (local.get $p) (i32.const 8)))
    (local.set $idx (call $param (local.get $p) (i32.const 9)))
    (local.set $rpt (call $param (local.get $p) (i32.const 10)))
    (local.set $oh (i32.shr_u (local.get $h) (i32.const 1)))
    (local.set $ow (i32.shr_u (local.get $w) (i32.const 1)))
    (block $out
      (loop $tiles
        (local.set $t (call $next (local.get $p)))
        (br_if $out (i32.ge_u (local.get $t) (local.get $ntiles)))
        (local.set $r (i32.mul (local.get $t) (local.get $rpt)))
        (local.set $r1 (i32.add (local.get $r) (local.get $rpt)))
        (if (i32.gt_u (local.get $r1) (i32.mul (local.get $c) (local.get $oh)))
          (then (local.set $r1 (i32.mul (local.get $c) (local.get $oh)))))
        (block $rdone
          (loop $rows
            (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
            ;; base: index of the row pair's first pixel
            (local.set $base (i32.add
              (i32.mul (i32.div_u (local.get $r) (local.get $oh)) (i32.mul (local.get $h) (local.get $w)))
              (i32.mul (i32.shl (i32.rem_u (local.get $r) (local.get $oh)) (i32.const 1)) (local.get $w))))
            (local.set $top (i32.add (local.get $src) (i32.shl (local.get $base) (i32.const 2))))
            (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r) (local.get $ow)) (i32.const 2))))
            (local.set $di (i32.add (local.get $idx) (i32.shl (i32.mul (local.get $r) (local.get $ow)) (i32.const 2))))
            (local.set $ox (i32.const 0))
            (block $vdone
              (loop $vec
                (br_if $vdone (i32.gt_u (i32.add (local.get $ox) (i32.const 4)) (local.get $ow)))
                (local.set $t0 (v128.load (local.get $top)))
                (local.set $t1 (v128.load offset=16 (local.get $top)))
                (local.set $b0 (v128.load (i32.add (local.get $top) (i32.shl (local.get $w) (i32.const 2)))))
                (local.set $b1 (v128.load offset=16 (i32.add (local.get $top) (i32.shl (local.get $w) (i32.const 2)))))
                (local.set $bv (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $t0) (local.get $t1)))
                (local.set $bo (v128.const i32x4 0 0 0 0))
                (local.set $v (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $t0) (local.get $t1)))
                (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $bv)) (f32x4.ne (local.get $v) (local.get $v))))
                (local.set $bv (v128.bitselect (local.get $v) (local.get $bv) (local.get $m)))
                (local.set $bo (v128.bitselect (v128.const i32x4 1 1 1 1) (local.get $bo) (local.get $m)))
                (local.set $v (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $b0) (local.get $b1)))
                (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $bv)) (f32x4.ne (local.get $v) (local.get $v))))
                (local.set $bv (v128.bitselect (local.get $v) (local.get $bv) (local.get $m)))
                (local.set $bo (v128.bitselect (i32x4.splat (local.get $w)) (local.get $bo) (local.get $m)))
                (local.set $v (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $b0) (local.get $b1)))
                (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $bv)) (f32x4.ne (local.get $v) (local.get $v))))
                (local.set $bv (v128.bitselect (local.get $v) (local.get $bv) (local.get $m)))
                (local.set $bo (v128.bitselect (i32x4.splat (i32.add (local.get $w) (i32.const 1))) (local.get $bo) (local.get $m)))
                (v128.store (local.get $d) (local.get $bv))
                (if (local.get $idx)
                  (then
                    (v128.store (local.get $di) (i32x4.add (local.get $bo)
                      (i32x4.add (i32x4.splat (i32.add (local.get $base) (i32.shl (local.get $ox) (i32.const 1))))
                        (v128.const i32x4 0 2 4 6))))))
                (local.set $top (i32.add (local.get $top) (i32.const 32)))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (local.set $di (i32.add (local.get $di) (i32.const 16)))
                (local.set $ox (i32.add (local.get $ox) (i32.const 4)))
                (br $vec)))
            (block $sdone
              (loop $scalar
                (br_if $sdone (i32.ge_u (local.get $ox) (local.get $ow)))
                (local.set $sv (f32.load (local.get $top)))
                (local.set $so (i32.const 0))
                (local.set $s (f32.load offset=4 (local.get $top)))
                (if (i32.or (f32.gt (local.get $s) (local.get $sv)) (f32.ne (local.get $s) (local.get $s)))
                  (then (local.set $sv (local.get $s)) (local.set $so (i32.const 1))))
                (local.set $s (f32.load (i32.add (local.get $top) (i32.shl (local.get $w) (i32.const 2)))))
                (if (i32.or (f32.gt (local.get $s) (local.get $sv)) (f32.ne (local.get $s) (local.get $s)))
                  (then (local.set $sv (local.get $s)) (local.set $so (local.get $w))))
                (local.set $s (f32.load offset=4 (i32.add (local.get $top) (i32.shl (local.get $w) (i32.const 2)))))
                (if (i32.or (f32.gt (local.get $s) (local.get $sv)) (f32.ne (local.get $s) (local.get $s)))
                  (then (local.set $sv (local.get $s)) (local.set $so (i32.add (local.get $w) (i32.const 1)))))
                (f32.store (local.get $d) (local.get $sv))
                (if (local.get $idx)
                  (then (i32.store (local.get $di)
                    (i32.add (i32.add (local.get $base) (i32.shl (local.get $ox) (i32.const 1))) (local.get $so)))))
                (local.set $top (i32.add (local.get $top) (i32.const 8)))
                (local.set $d (i32.add (local.get $d) (i32.const 4)))
                (local.set $di (i32.add (local.get $di) (i32.const 4)))
                (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
                (br $scalar)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (br $tiles))))

  ;; nearest: for each column of q (d x n, row-major), the row of A (m x d,
  ;; packed) with the largest inner product, ties to the lowest row.
  ;; Words: 4 A, 5 m, 6 d, 7 q, 8 n, 9 panels per tile, 10 idx out (i32),
  ;; 11 sim out (f32). Scratch: B tile, C tile (128 bytes), best, index.
  (func (export "nearest") (param $p i32) (param $wid i32)
    (local $t i32) (local $ntiles i32) (local $a i32) (local $m i32) (local $d i32) (local $q i32)
    (local $n i32) (local $npt i32) (local $oidx i32) (local $osim i32)
    (local $bp i32) (local $tmp i32) (local $best i32) (local $bidx i32)
    (local $c0 i32) (local $nc i32) (local $np i32) (local $jp i32) (local $ip i32) (local $rows i32)
    (local $r i32) (local $i i32) (local $s i32) (local $dd i32) (local $col i32)
    (local $s0 v128) (local $s1 v128) (local $b0 v128) (local $b1 v128) (local $i0 v128) (local $i1 v128)
    (local $rv v128) (local $mask v128)
    (local.set $ntiles (call $param (local.get $p) (i32.const 1)))
    (local.set $a (call $param (local.get $p) (i32.const 4)))
    (local.set $m (call $param (local.get $p) (i32.const 5)))
    (local.set $d (call $param (local.get $p) (i32.const 6)))
    (local.set $q (call $param (local.get $p) (i32.const 7)))
    (local.set $n (call $param (local.get $p) (i32.const 8)))
    (local.set $npt (call $param (local.get $p) (i32.const 9)))
    (local.set $oidx (call $param (local.get $p) (i32.const 10)))
    (local.set $osim (call $param (local.get $p) (i32.const 11)))
    (local.set $bp (call $scratch (local.get $p) (local.get $wid)))
    (local.set $tmp (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $d) (local.get $npt)) (i32.const 5))))
    (local.set $best (i32.add (local.get $tmp) (i32.const 128)))
    (local.set $bidx (i32.add (local.get $best) (i32.shl (local.get $npt) (i32.const 5))))
    (block $out
      (loop $tiles
        (local.set $t (call $next (local.get $p)))
        (br_if $out (i32.ge_u (local.get $t) (local.get $ntiles)))
        (local.set $c0 (i32.shl (i32.mul (local.get $t) (local.get $npt)) (i32.const 3)))
        (local.set $nc (i32.sub (local.get $n) (local.get $c0)))
        (if (i32.gt_s (local.get $nc) (i32.shl (local.get $npt) (i32.const 3)))
          (then (local.set $nc (i32.shl (local.get $npt) (i32.const 3)))))
        (local.set $np (i32.shr_u (i32.add (local.get $nc) (i32.const 7)) (i32.const 3)))
        ;; pack the tile's columns into panels of 8; reset best and index
        (local.set $jp (i32.const 0))
        (loop $pj
          (local.set $i (i32.const 0))
          (loop $pk
            (local.set $s (i32.add (local.get $q) (i32.shl
              (i32.add (i32.mul (local.get $i) (local.get $n)) (i32.add (local.get $c0) (i32.shl (local.get $jp) (i32.const 3))))
              (i32.const 2))))
            (local.set $dd (i32.add (local.get $bp) (i32.shl
              (i32.add (i32.mul (local.get $jp) (local.get $d)) (local.get $i)) (i32.const 5))))
            (if (i32.ge_s (i32.sub (local.get $nc) (i32.shl (local.get $jp) (i32.const 3))) (i32.const 8))
              (then
                (v128.store (local.get $dd) (v128.load (local.get $s)))
                (v128.store offset=16 (local.get $dd) (v128.load offset=16 (local.get $s))))
              (else
                (local.set $r (i32.const 0))
                (loop $pc
                  (local.set $col (i32.add (i32.shl (local.get $jp) (i32.const 3)) (local.get $r)))
                  (if (i32.lt_s (local.get $col) (local.get $nc))
                    (then (f32.store (local.get $dd) (f32.load (local.get $s))))
                    (else (f32.store (local.get $dd) (f32.const 0))))
                  (local.set $s (i32.add (local.get $s) (i32.const 4)))
                  (local.set $dd (i32.add (local.get $dd) (i32.const 4)))
                  (local.set $r (i32.add (local.get $r) (i32.const 1)))
                  (br_if $pc (i32.lt_u (local.get $r) (i32.const 8))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $pk (i32.lt_u (local.get $i) (local.get $d))))
          (local.set $dd (i32.add (local.get $best) (i32.shl (local.get $jp) (i32.const 5))))
          (v128.store (local.get $dd) (v128.const f32x4 -inf -inf -inf -inf))
          (v128.store offset=16 (local.get $dd) (v128.const f32x4 -inf -inf -inf -inf))
          (local.set $dd (i32.add (local.get $bidx) (i32.shl (local.get $jp) (i32.const 5))))
          (v128.store (local.get $dd) (v128.const i32x4 0 0 0 0))
          (v128.store offset=16 (local.get $dd) (v128.const i32x4 0 0 0 0))
          (local.set $jp (i32.add (local.get $jp) (i32.const 1)))
          (br_if $pj (i32.lt_u (local.get $jp) (local.get $np))))
        ;; sweep the bank, 4 rows at a time
        (local.set $ip (i32.const 0))
        (loop $rowp
          (local.set $rows (i32.sub (local.get $m) (i32.shl (local.get $ip) (i32.const 2))))
          (if (i32.gt_s (local.get $rows) (i32.const 4)) (then (local.set $rows (i32.const 4))))
          (local.set $jp (i32.const 0))
          (loop $colp
            (call $mk
              (i32.add (local.get $a) (i32.shl (i32.mul (local.get $ip) (local.get $d)) (i32.const 4)))
              (i32.add (local.get $bp) (i32.shl (i32.mul (local.get $jp) (local.get $d)) (i32.const 5)))
              (local.get $d) (local.get $tmp) (i32.const 0))
            (local.set $s (i32.add (local.get $best) (i32.shl (local.get $jp) (i32.const 5))))
            (local.set $dd (i32.add (local.get $bidx) (i32.shl (local.get $jp) (i32.const 5))))
            (local.set $b0 (v128.load (local.get $s)))
            (local.set $b1 (v128.load offset=16 (local.get $s)))
            (local.set $i0 (v128.load (local.get $dd)))
            (local.set $i1 (v128.load offset=16 (local.get $dd)))
            (local.set $r (i32.const 0))
            (loop $rl
              (local.set $rv (i32x4.splat (i32.add (i32.shl (local.get $ip) (i32.const 2)) (local.get $r))))
              (local.set $s0 (v128.load (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5)))))
              (local.set $s1 (v128.load offset=16 (i32.add (local.get $tmp) (i32.shl (local.get $r) (i32.const 5)))))
              (local.set $mask (f32x4.gt (local.get $s0) (local.get $b0)))
              (local.set $b0 (v128.bitselect (local.get $s0) (local.get $b0) (local.get $mask)))
              (local.set $i0 (v128.bitselect (local.get $rv) (local.get $i0) (local.get $mask)))
              (local.set $mask (f32x4.gt (local.get $s1) (local.get $b1)))
              (local.set $b1 (v128.bitselect (local.get $s1) (local.get $b1) (local.get $mask)))
              (local.set $i1 (v128.bitselect (local.get $rv) (local.get $i1) (local.get $mask)))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br_if $rl (i32.lt_u (local.get $r) (local.get $rows))))
            (v128.store (local.get $s) (local.get $b0))
            (v128.store offset=16 (local.get $s) (local.get $b1))
            (v128.store (local.get $dd) (local.get $i0))
            (v128.store offset=16 (local.get $dd) (local.get $i1))
            (local.set $jp (i32.add (local.get $jp) (i32.const 1)))
            (br_if $colp (i32.lt_u (local.get $jp) (local.get $np))))
          (local.set $ip (i32.add (local.get $ip) (i32.const 1)))
          (br_if $rowp (i32.lt_u (i32.shl (local.get $ip) (i32.const 2)) (local.get $m))))
        ;; write out the tile's columns
        (local.set $i (i32.const 0))
        (loop $ol
          (i32.store (i32.add (local.get $oidx) (i32.shl (i32.add (local.get $c0) (local.get $i)) (i32.const 2)))
            (i32.load (i32.add (local.get $bidx) (i32.shl (local.get $i) (i32.const 2)))))
          (f32.store (i32.add (local.get $osim) (i32.shl (i32.add (local.get $c0) (local.get $i)) (i32.const 2)))
            (f32.load (i32.add (local.get $best) (i32.shl (local.get $i) (i32.const 2)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $ol (i32.lt_u (local.get $i) (local.get $nc))))
        (br $tiles))))
)
