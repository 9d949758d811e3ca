package authbridge

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TestCheckOwnVolume: which of a pod's own volumes can stand in for AuthBridge's.
func TestCheckOwnVolume(t *testing.T) {
	csi := func(driver string, ro *bool) corev1.VolumeSource {
		return corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: driver, ReadOnly: ro}}
	}
	for _, c := range []struct {
		name string
		src  corev1.VolumeSource
		want string // "" = reused
	}{
		{VolumeSharedData, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, ""},
		{VolumeSharedData, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}, ""},
		{VolumeSharedData, corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}, `volume "shared-data" is a hostPath volume; AuthBridge shares it with its sidecar as scratch space, so it must be an emptyDir`},
		{VolumeSharedData, corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "x"}}, "is an image volume"},
		{VolumeSharedData, corev1.VolumeSource{}, "is a volume without a source"},
		{VolumeSPIRESocket, csi(SPIFFECSIDriver, ptr.To(true)), ""},
		{VolumeSPIRESocket, csi(SPIFFECSIDriver, nil), "is not readOnly"},
		{VolumeSPIRESocket, csi("other.csi", ptr.To(true)), `a CSI volume of driver "other.csi"`},
		{VolumeSPIRESocket, corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/spire/agent-sockets"}}, "is a hostPath volume; it must be the SPIFFE CSI driver's (csi: {driver: csi.spiffe.io, readOnly: true})"},
		{VolumeSPIRESocket, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, "is an emptyDir volume"},
		{VolumeConfig, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, `volume name "authbridge-config" is reserved for AuthBridge`},
		{VolumeSVIDOutput, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}, "is reserved"},
	} {
		err := CheckOwnVolume(corev1.Volume{Name: c.name, VolumeSource: c.src})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %+v: %v, want it reused", c.name, c.src, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %+v: got %v, want %q", c.name, c.src, err, c.want)
		}
	}
}
