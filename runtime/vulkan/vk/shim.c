//go:build cgo

// shim.c: loading of the Vulkan entry points and the C halves of the calls that need pNext chains
// or a C callback. Chains are built in C stack memory so that no Go pointer is ever stored in
// memory that C keeps (the cgo pointer rules).
#include "shim.h"
#include <dlfcn.h>
#include <string.h>

sr_table sr_vk;

// sr_load opens the loader by its versioned soname (present without libvulkan-dev) and fetches the
// global entry points. It returns 1 if the library is missing, 2 if it lacks vkGetInstanceProcAddr,
// 3 if a global entry point is missing.
int sr_load(void) {
	void* lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) return 1;
	sr_vk.vkGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
	if (!sr_vk.vkGetInstanceProcAddr) return 2;
	sr_vk.vkCreateInstance = (PFN_vkCreateInstance)sr_vk.vkGetInstanceProcAddr(NULL, "vkCreateInstance");
	sr_vk.vkEnumerateInstanceLayerProperties = (PFN_vkEnumerateInstanceLayerProperties)sr_vk.vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceLayerProperties");
	sr_vk.vkEnumerateInstanceVersion = (PFN_vkEnumerateInstanceVersion)sr_vk.vkGetInstanceProcAddr(NULL, "vkEnumerateInstanceVersion");
	if (!sr_vk.vkCreateInstance || !sr_vk.vkEnumerateInstanceLayerProperties) return 3;
	return 0;
}

// sr_load_instance fetches the core instance- and device-level entry points through inst. They
// are the loader's trampolines, which dispatch on the handle passed, so the table fetched through
// the first instance serves every instance and device (package vk calls this once). Extension
// entry points differ per instance and are fetched where used (sr_create_messenger).
void sr_load_instance(VkInstance inst) {
	sr_vk.vkDestroyInstance = (PFN_vkDestroyInstance)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyInstance");
	sr_vk.vkEnumeratePhysicalDevices = (PFN_vkEnumeratePhysicalDevices)sr_vk.vkGetInstanceProcAddr(inst, "vkEnumeratePhysicalDevices");
	sr_vk.vkGetPhysicalDeviceProperties2 = (PFN_vkGetPhysicalDeviceProperties2)sr_vk.vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceProperties2");
	sr_vk.vkGetPhysicalDeviceFeatures2 = (PFN_vkGetPhysicalDeviceFeatures2)sr_vk.vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceFeatures2");
	sr_vk.vkGetPhysicalDeviceMemoryProperties = (PFN_vkGetPhysicalDeviceMemoryProperties)sr_vk.vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceMemoryProperties");
	sr_vk.vkGetPhysicalDeviceQueueFamilyProperties = (PFN_vkGetPhysicalDeviceQueueFamilyProperties)sr_vk.vkGetInstanceProcAddr(inst, "vkGetPhysicalDeviceQueueFamilyProperties");
	sr_vk.vkEnumerateDeviceExtensionProperties = (PFN_vkEnumerateDeviceExtensionProperties)sr_vk.vkGetInstanceProcAddr(inst, "vkEnumerateDeviceExtensionProperties");
	sr_vk.vkCreateDevice = (PFN_vkCreateDevice)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateDevice");
	sr_vk.vkDestroyDevice = (PFN_vkDestroyDevice)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyDevice");
	sr_vk.vkGetDeviceQueue = (PFN_vkGetDeviceQueue)sr_vk.vkGetInstanceProcAddr(inst, "vkGetDeviceQueue");
	sr_vk.vkDeviceWaitIdle = (PFN_vkDeviceWaitIdle)sr_vk.vkGetInstanceProcAddr(inst, "vkDeviceWaitIdle");
	sr_vk.vkCreateBuffer = (PFN_vkCreateBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateBuffer");
	sr_vk.vkDestroyBuffer = (PFN_vkDestroyBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyBuffer");
	sr_vk.vkGetBufferMemoryRequirements = (PFN_vkGetBufferMemoryRequirements)sr_vk.vkGetInstanceProcAddr(inst, "vkGetBufferMemoryRequirements");
	sr_vk.vkAllocateMemory = (PFN_vkAllocateMemory)sr_vk.vkGetInstanceProcAddr(inst, "vkAllocateMemory");
	sr_vk.vkFreeMemory = (PFN_vkFreeMemory)sr_vk.vkGetInstanceProcAddr(inst, "vkFreeMemory");
	sr_vk.vkBindBufferMemory = (PFN_vkBindBufferMemory)sr_vk.vkGetInstanceProcAddr(inst, "vkBindBufferMemory");
	sr_vk.vkMapMemory = (PFN_vkMapMemory)sr_vk.vkGetInstanceProcAddr(inst, "vkMapMemory");
	sr_vk.vkUnmapMemory = (PFN_vkUnmapMemory)sr_vk.vkGetInstanceProcAddr(inst, "vkUnmapMemory");
	sr_vk.vkCreateShaderModule = (PFN_vkCreateShaderModule)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateShaderModule");
	sr_vk.vkDestroyShaderModule = (PFN_vkDestroyShaderModule)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyShaderModule");
	sr_vk.vkCreateDescriptorSetLayout = (PFN_vkCreateDescriptorSetLayout)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateDescriptorSetLayout");
	sr_vk.vkDestroyDescriptorSetLayout = (PFN_vkDestroyDescriptorSetLayout)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyDescriptorSetLayout");
	sr_vk.vkCreatePipelineLayout = (PFN_vkCreatePipelineLayout)sr_vk.vkGetInstanceProcAddr(inst, "vkCreatePipelineLayout");
	sr_vk.vkDestroyPipelineLayout = (PFN_vkDestroyPipelineLayout)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyPipelineLayout");
	sr_vk.vkCreateComputePipelines = (PFN_vkCreateComputePipelines)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateComputePipelines");
	sr_vk.vkDestroyPipeline = (PFN_vkDestroyPipeline)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyPipeline");
	sr_vk.vkCreateDescriptorPool = (PFN_vkCreateDescriptorPool)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateDescriptorPool");
	sr_vk.vkDestroyDescriptorPool = (PFN_vkDestroyDescriptorPool)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyDescriptorPool");
	sr_vk.vkAllocateDescriptorSets = (PFN_vkAllocateDescriptorSets)sr_vk.vkGetInstanceProcAddr(inst, "vkAllocateDescriptorSets");
	sr_vk.vkUpdateDescriptorSets = (PFN_vkUpdateDescriptorSets)sr_vk.vkGetInstanceProcAddr(inst, "vkUpdateDescriptorSets");
	sr_vk.vkCreateCommandPool = (PFN_vkCreateCommandPool)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateCommandPool");
	sr_vk.vkDestroyCommandPool = (PFN_vkDestroyCommandPool)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyCommandPool");
	sr_vk.vkAllocateCommandBuffers = (PFN_vkAllocateCommandBuffers)sr_vk.vkGetInstanceProcAddr(inst, "vkAllocateCommandBuffers");
	sr_vk.vkBeginCommandBuffer = (PFN_vkBeginCommandBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkBeginCommandBuffer");
	sr_vk.vkEndCommandBuffer = (PFN_vkEndCommandBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkEndCommandBuffer");
	sr_vk.vkResetCommandBuffer = (PFN_vkResetCommandBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkResetCommandBuffer");
	sr_vk.vkCmdBindPipeline = (PFN_vkCmdBindPipeline)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdBindPipeline");
	sr_vk.vkCmdBindDescriptorSets = (PFN_vkCmdBindDescriptorSets)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdBindDescriptorSets");
	sr_vk.vkCmdPushConstants = (PFN_vkCmdPushConstants)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdPushConstants");
	sr_vk.vkCmdDispatch = (PFN_vkCmdDispatch)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdDispatch");
	sr_vk.vkCmdPipelineBarrier = (PFN_vkCmdPipelineBarrier)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdPipelineBarrier");
	sr_vk.vkCmdCopyBuffer = (PFN_vkCmdCopyBuffer)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdCopyBuffer");
	sr_vk.vkCmdWriteTimestamp = (PFN_vkCmdWriteTimestamp)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdWriteTimestamp");
	sr_vk.vkCmdResetQueryPool = (PFN_vkCmdResetQueryPool)sr_vk.vkGetInstanceProcAddr(inst, "vkCmdResetQueryPool");
	sr_vk.vkQueueSubmit = (PFN_vkQueueSubmit)sr_vk.vkGetInstanceProcAddr(inst, "vkQueueSubmit");
	sr_vk.vkCreateFence = (PFN_vkCreateFence)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateFence");
	sr_vk.vkDestroyFence = (PFN_vkDestroyFence)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyFence");
	sr_vk.vkWaitForFences = (PFN_vkWaitForFences)sr_vk.vkGetInstanceProcAddr(inst, "vkWaitForFences");
	sr_vk.vkResetFences = (PFN_vkResetFences)sr_vk.vkGetInstanceProcAddr(inst, "vkResetFences");
	sr_vk.vkCreateQueryPool = (PFN_vkCreateQueryPool)sr_vk.vkGetInstanceProcAddr(inst, "vkCreateQueryPool");
	sr_vk.vkDestroyQueryPool = (PFN_vkDestroyQueryPool)sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyQueryPool");
	sr_vk.vkGetQueryPoolResults = (PFN_vkGetQueryPoolResults)sr_vk.vkGetInstanceProcAddr(inst, "vkGetQueryPoolResults");
}
// sr_query_caps reads properties and features through Properties2/Features2 with the subgroup,
// driver, float16/int8 and 8/16-bit storage structs chained. Structs that are core only in 1.2 are
// chained only when the device reports 1.2, since chaining unknown structs is invalid usage.
void sr_query_caps(VkPhysicalDevice pd, uint32_t apiVersion, sr_caps* out) {
	int v12 = apiVersion >= VK_API_VERSION_1_2;
	VkPhysicalDeviceDriverProperties drv = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
	VkPhysicalDeviceSubgroupProperties sg = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
	VkPhysicalDeviceProperties2 p2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
	p2.pNext = &sg;
	if (v12) sg.pNext = &drv;
	sr_vk.vkGetPhysicalDeviceProperties2(pd, &p2);

	VkPhysicalDeviceShaderFloat16Int8Features f16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
	VkPhysicalDevice8BitStorageFeatures s8 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
	VkPhysicalDevice16BitStorageFeatures s16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
	VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
	f2.pNext = &s16;
	if (v12) { s16.pNext = &f16; f16.pNext = &s8; }
	sr_vk.vkGetPhysicalDeviceFeatures2(pd, &f2);

	memset(out, 0, sizeof(*out));
	out->props = p2.properties;
	out->subgroupSize = sg.subgroupSize;
	out->subgroupStages = sg.supportedStages;
	out->subgroupOps = sg.supportedOperations;
	if (v12) {
		out->driverID = drv.driverID;
		memcpy(out->driverName, drv.driverName, sizeof(out->driverName));
		memcpy(out->driverInfo, drv.driverInfo, sizeof(out->driverInfo));
		out->shaderFloat16 = f16.shaderFloat16;
		out->shaderInt8 = f16.shaderInt8;
		out->storageBuffer8BitAccess = s8.storageBuffer8BitAccess;
	}
	out->storageBuffer16BitAccess = s16.storageBuffer16BitAccess;
}

// sr_create_device creates a device with one queue of the given family and the optional features
// in en enabled (the caller enables only what sr_query_caps reported).
VkResult sr_create_device(VkPhysicalDevice pd, uint32_t family, const sr_enable* en,
		const char* const* exts, uint32_t nexts, VkDevice* out) {
	float prio = 1.0f;
	VkDeviceQueueCreateInfo q = {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
	q.queueFamilyIndex = family;
	q.queueCount = 1;
	q.pQueuePriorities = &prio;

	VkPhysicalDevice16BitStorageFeatures s16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
	s16.storageBuffer16BitAccess = en->storageBuffer16BitAccess;
	VkPhysicalDevice8BitStorageFeatures s8 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
	s8.storageBuffer8BitAccess = en->storageBuffer8BitAccess;
	VkPhysicalDeviceShaderFloat16Int8Features f16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
	f16.shaderFloat16 = en->shaderFloat16;
	f16.shaderInt8 = en->shaderInt8;
	// Only chain what is requested, so 1.1 devices never see the 1.2 structs.
	void* chain = NULL;
	if (en->storageBuffer8BitAccess) { s8.pNext = chain; chain = &s8; }
	if (en->shaderFloat16 || en->shaderInt8) { f16.pNext = chain; chain = &f16; }
	if (en->storageBuffer16BitAccess) { s16.pNext = chain; chain = &s16; }

	VkDeviceCreateInfo ci = {VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
	ci.pNext = chain;
	ci.queueCreateInfoCount = 1;
	ci.pQueueCreateInfos = &q;
	ci.enabledExtensionCount = nexts;
	ci.ppEnabledExtensionNames = exts;
	return sr_vk.vkCreateDevice(pd, &ci, NULL, out);
}

// srGoDebugMessage is exported by debug.go.
extern void srGoDebugMessage(uintptr_t handle, int severity, char* id, char* msg);

// sr_debug_cb forwards every validation message to Go with the handle given at registration.
static VKAPI_ATTR VkBool32 VKAPI_CALL sr_debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
		VkDebugUtilsMessageTypeFlagsEXT types, const VkDebugUtilsMessengerCallbackDataEXT* data,
		void* user) {
	(void)types;
	srGoDebugMessage((uintptr_t)user, (int)sev, (char*)(data->pMessageIdName ? data->pMessageIdName : ""),
		(char*)(data->pMessage ? data->pMessage : ""));
	return VK_FALSE;
}

// sr_create_messenger registers sr_debug_cb for warnings and errors of every message type.
VkResult sr_create_messenger(VkInstance inst, uintptr_t handle, VkDebugUtilsMessengerEXT* out) {
	PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)
		sr_vk.vkGetInstanceProcAddr(inst, "vkCreateDebugUtilsMessengerEXT");
	if (!create) return VK_ERROR_EXTENSION_NOT_PRESENT;
	VkDebugUtilsMessengerCreateInfoEXT ci = {VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
	ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
	ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
	ci.pfnUserCallback = sr_debug_cb;
	ci.pUserData = (void*)handle;
	return create(inst, &ci, NULL, out);
}

// sr_destroy_messenger unregisters m from inst.
void sr_destroy_messenger(VkInstance inst, VkDebugUtilsMessengerEXT m) {
	PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)
		sr_vk.vkGetInstanceProcAddr(inst, "vkDestroyDebugUtilsMessengerEXT");
	if (destroy) destroy(inst, m, NULL);
}
