import ctypes,sys
v=ctypes.CDLL(sys.argv[1])
n=ctypes.c_uint32(0)
r=v.vkEnumerateInstanceExtensionProperties(None, ctypes.byref(n), None)
buf=(ctypes.c_char*260*n.value)()
r=v.vkEnumerateInstanceExtensionProperties(None, ctypes.byref(n), buf)
print("vulkan", sys.argv[1], "result",r,"count",n.value,[bytes(b)[:256].split(b'\0')[0].decode() for b in buf])
