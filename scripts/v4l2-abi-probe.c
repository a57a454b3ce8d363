/* SPDX-License-Identifier: MPL-2.0
 *
 * The V4L2 ABI of one target, from the kernel's own UAPI header <linux/videodev2.h>: sizes and
 * field offsets (bytes) of the structs that src/rpih264enc/v4l2/sys.rs declares, and the
 * numbers of the ioctls it uses. Built with the target's cross compiler against the target's
 * sysroot (scripts/arm.sh ARCH abi), with -D_TIME_BITS=32 or 64 on armhf, and run under
 * emulation. One "key value" line each; the Rust test v4l2::sys::tests reads them back
 * (RPICAMSRC2_V4L2_ABI_PROBE) and compares them with the Rust declarations, key by key.
 */
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/videodev2.h>

#define SIZE(t) printf("size %s %zu\n", #t, sizeof(struct t))
#define OFF(t, f) printf("offset %s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define IOCTL(n) printf("ioctl %s 0x%08lx\n", #n, (unsigned long)(n))

int main(void) {
  SIZE(v4l2_capability);
  SIZE(v4l2_pix_format_mplane);
  SIZE(v4l2_format);
  SIZE(v4l2_requestbuffers);
  SIZE(v4l2_plane);
  SIZE(v4l2_buffer);
  SIZE(v4l2_control);
  SIZE(v4l2_queryctrl);
  SIZE(v4l2_encoder_cmd);
  SIZE(v4l2_streamparm);
  OFF(v4l2_buffer, index);
  OFF(v4l2_buffer, bytesused);
  OFF(v4l2_buffer, field);
  OFF(v4l2_buffer, timestamp);
  OFF(v4l2_buffer, timecode);
  OFF(v4l2_buffer, sequence);
  OFF(v4l2_buffer, memory);
  OFF(v4l2_buffer, m);
  OFF(v4l2_buffer, length);
  OFF(v4l2_buffer, request_fd);
  OFF(v4l2_plane, bytesused);
  OFF(v4l2_plane, length);
  OFF(v4l2_plane, m);
  OFF(v4l2_plane, data_offset);
  OFF(v4l2_plane, reserved);
  OFF(v4l2_format, fmt);
  OFF(v4l2_pix_format_mplane, plane_fmt);
  OFF(v4l2_pix_format_mplane, num_planes);
  OFF(v4l2_streamparm, parm);
  IOCTL(VIDIOC_QUERYCAP);
  IOCTL(VIDIOC_G_FMT);
  IOCTL(VIDIOC_S_FMT);
  IOCTL(VIDIOC_REQBUFS);
  IOCTL(VIDIOC_QUERYBUF);
  IOCTL(VIDIOC_QBUF);
  IOCTL(VIDIOC_DQBUF);
  IOCTL(VIDIOC_STREAMON);
  IOCTL(VIDIOC_STREAMOFF);
  IOCTL(VIDIOC_S_PARM);
  IOCTL(VIDIOC_S_CTRL);
  IOCTL(VIDIOC_QUERYCTRL);
  IOCTL(VIDIOC_ENCODER_CMD);
  return 0;
}
