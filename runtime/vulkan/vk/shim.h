// shim.h: the C side of package vk. VK_NO_PROTOTYPES keeps the loader out of the link: every entry
// point is fetched at run time into sr_vk (shim.c) and called through a one-line static inline
// wrapper below, because Go cannot call C function pointers directly. The wrappers were generated
// from the PFN_vk* typedefs of Debian's vulkan_core.h 1.3.239; to add an entry point, add a table
// field, a load line in shim.c and a wrapper with the header's exact prototype.
#ifndef SPARKRUN_VK_SHIM_H
#define SPARKRUN_VK_SHIM_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
	PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
	PFN_vkCreateInstance vkCreateInstance;
	PFN_vkEnumerateInstanceLayerProperties vkEnumerateInstanceLayerProperties;
	PFN_vkEnumerateInstanceVersion vkEnumerateInstanceVersion;
	PFN_vkDestroyInstance vkDestroyInstance;
	PFN_vkEnumeratePhysicalDevices vkEnumeratePhysicalDevices;
	PFN_vkGetPhysicalDeviceProperties2 vkGetPhysicalDeviceProperties2;
	PFN_vkGetPhysicalDeviceFeatures2 vkGetPhysicalDeviceFeatures2;
	PFN_vkGetPhysicalDeviceMemoryProperties vkGetPhysicalDeviceMemoryProperties;
	PFN_vkGetPhysicalDeviceQueueFamilyProperties vkGetPhysicalDeviceQueueFamilyProperties;
	PFN_vkEnumerateDeviceExtensionProperties vkEnumerateDeviceExtensionProperties;
	PFN_vkCreateDevice vkCreateDevice;
	PFN_vkDestroyDevice vkDestroyDevice;
	PFN_vkGetDeviceQueue vkGetDeviceQueue;
	PFN_vkDeviceWaitIdle vkDeviceWaitIdle;
	PFN_vkCreateBuffer vkCreateBuffer;
	PFN_vkDestroyBuffer vkDestroyBuffer;
	PFN_vkGetBufferMemoryRequirements vkGetBufferMemoryRequirements;
	PFN_vkAllocateMemory vkAllocateMemory;
	PFN_vkFreeMemory vkFreeMemory;
	PFN_vkBindBufferMemory vkBindBufferMemory;
	PFN_vkMapMemory vkMapMemory;
	PFN_vkUnmapMemory vkUnmapMemory;
	PFN_vkCreateShaderModule vkCreateShaderModule;
	PFN_vkDestroyShaderModule vkDestroyShaderModule;
	PFN_vkCreateDescriptorSetLayout vkCreateDescriptorSetLayout;
	PFN_vkDestroyDescriptorSetLayout vkDestroyDescriptorSetLayout;
	PFN_vkCreatePipelineLayout vkCreatePipelineLayout;
	PFN_vkDestroyPipelineLayout vkDestroyPipelineLayout;
	PFN_vkCreateComputePipelines vkCreateComputePipelines;
	PFN_vkDestroyPipeline vkDestroyPipeline;
	PFN_vkCreateDescriptorPool vkCreateDescriptorPool;
	PFN_vkDestroyDescriptorPool vkDestroyDescriptorPool;
	PFN_vkAllocateDescriptorSets vkAllocateDescriptorSets;
	PFN_vkUpdateDescriptorSets vkUpdateDescriptorSets;
	PFN_vkCreateCommandPool vkCreateCommandPool;
	PFN_vkDestroyCommandPool vkDestroyCommandPool;
	PFN_vkAllocateCommandBuffers vkAllocateCommandBuffers;
	PFN_vkBeginCommandBuffer vkBeginCommandBuffer;
	PFN_vkEndCommandBuffer vkEndCommandBuffer;
	PFN_vkResetCommandBuffer vkResetCommandBuffer;
	PFN_vkCmdBindPipeline vkCmdBindPipeline;
	PFN_vkCmdBindDescriptorSets vkCmdBindDescriptorSets;
	PFN_vkCmdPushConstants vkCmdPushConstants;
	PFN_vkCmdDispatch vkCmdDispatch;
	PFN_vkCmdPipelineBarrier vkCmdPipelineBarrier;
	PFN_vkCmdCopyBuffer vkCmdCopyBuffer;
	PFN_vkCmdWriteTimestamp vkCmdWriteTimestamp;
	PFN_vkCmdResetQueryPool vkCmdResetQueryPool;
	PFN_vkQueueSubmit vkQueueSubmit;
	PFN_vkCreateFence vkCreateFence;
	PFN_vkDestroyFence vkDestroyFence;
	PFN_vkWaitForFences vkWaitForFences;
	PFN_vkResetFences vkResetFences;
	PFN_vkCreateQueryPool vkCreateQueryPool;
	PFN_vkDestroyQueryPool vkDestroyQueryPool;
	PFN_vkGetQueryPoolResults vkGetQueryPoolResults;
} sr_table;

// sr_vk is the one process-wide table of loaded entry points (defined in shim.c).
extern sr_table sr_vk;

static inline VkResult sr_CreateInstance(const VkInstanceCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkInstance* pInstance) { return sr_vk.vkCreateInstance(pCreateInfo, pAllocator, pInstance); }
static inline VkResult sr_EnumerateInstanceLayerProperties(uint32_t* pPropertyCount, VkLayerProperties* pProperties) { return sr_vk.vkEnumerateInstanceLayerProperties(pPropertyCount, pProperties); }
static inline VkResult sr_EnumerateInstanceVersion(uint32_t* pApiVersion) { return sr_vk.vkEnumerateInstanceVersion(pApiVersion); }
static inline void sr_DestroyInstance(VkInstance instance, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyInstance(instance, pAllocator); }
static inline VkResult sr_EnumeratePhysicalDevices(VkInstance instance, uint32_t* pPhysicalDeviceCount, VkPhysicalDevice* pPhysicalDevices) { return sr_vk.vkEnumeratePhysicalDevices(instance, pPhysicalDeviceCount, pPhysicalDevices); }
static inline void sr_GetPhysicalDeviceProperties2(VkPhysicalDevice physicalDevice, VkPhysicalDeviceProperties2* pProperties) { sr_vk.vkGetPhysicalDeviceProperties2(physicalDevice, pProperties); }
static inline void sr_GetPhysicalDeviceFeatures2(VkPhysicalDevice physicalDevice, VkPhysicalDeviceFeatures2* pFeatures) { sr_vk.vkGetPhysicalDeviceFeatures2(physicalDevice, pFeatures); }
static inline void sr_GetPhysicalDeviceMemoryProperties(VkPhysicalDevice physicalDevice, VkPhysicalDeviceMemoryProperties* pMemoryProperties) { sr_vk.vkGetPhysicalDeviceMemoryProperties(physicalDevice, pMemoryProperties); }
static inline void sr_GetPhysicalDeviceQueueFamilyProperties(VkPhysicalDevice physicalDevice, uint32_t* pQueueFamilyPropertyCount, VkQueueFamilyProperties* pQueueFamilyProperties) { sr_vk.vkGetPhysicalDeviceQueueFamilyProperties(physicalDevice, pQueueFamilyPropertyCount, pQueueFamilyProperties); }
static inline VkResult sr_EnumerateDeviceExtensionProperties(VkPhysicalDevice physicalDevice, const char* pLayerName, uint32_t* pPropertyCount, VkExtensionProperties* pProperties) { return sr_vk.vkEnumerateDeviceExtensionProperties(physicalDevice, pLayerName, pPropertyCount, pProperties); }
static inline VkResult sr_CreateDevice(VkPhysicalDevice physicalDevice, const VkDeviceCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkDevice* pDevice) { return sr_vk.vkCreateDevice(physicalDevice, pCreateInfo, pAllocator, pDevice); }
static inline void sr_DestroyDevice(VkDevice device, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyDevice(device, pAllocator); }
static inline void sr_GetDeviceQueue(VkDevice device, uint32_t queueFamilyIndex, uint32_t queueIndex, VkQueue* pQueue) { sr_vk.vkGetDeviceQueue(device, queueFamilyIndex, queueIndex, pQueue); }
static inline VkResult sr_DeviceWaitIdle(VkDevice device) { return sr_vk.vkDeviceWaitIdle(device); }
static inline VkResult sr_CreateBuffer(VkDevice device, const VkBufferCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkBuffer* pBuffer) { return sr_vk.vkCreateBuffer(device, pCreateInfo, pAllocator, pBuffer); }
static inline void sr_DestroyBuffer(VkDevice device, VkBuffer buffer, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyBuffer(device, buffer, pAllocator); }
static inline void sr_GetBufferMemoryRequirements(VkDevice device, VkBuffer buffer, VkMemoryRequirements* pMemoryRequirements) { sr_vk.vkGetBufferMemoryRequirements(device, buffer, pMemoryRequirements); }
static inline VkResult sr_AllocateMemory(VkDevice device, const VkMemoryAllocateInfo* pAllocateInfo, const VkAllocationCallbacks* pAllocator, VkDeviceMemory* pMemory) { return sr_vk.vkAllocateMemory(device, pAllocateInfo, pAllocator, pMemory); }
static inline void sr_FreeMemory(VkDevice device, VkDeviceMemory memory, const VkAllocationCallbacks* pAllocator) { sr_vk.vkFreeMemory(device, memory, pAllocator); }
static inline VkResult sr_BindBufferMemory(VkDevice device, VkBuffer buffer, VkDeviceMemory memory, VkDeviceSize memoryOffset) { return sr_vk.vkBindBufferMemory(device, buffer, memory, memoryOffset); }
static inline VkResult sr_MapMemory(VkDevice device, VkDeviceMemory memory, VkDeviceSize offset, VkDeviceSize size, VkMemoryMapFlags flags, void** ppData) { return sr_vk.vkMapMemory(device, memory, offset, size, flags, ppData); }
static inline void sr_UnmapMemory(VkDevice device, VkDeviceMemory memory) { sr_vk.vkUnmapMemory(device, memory); }
static inline VkResult sr_CreateShaderModule(VkDevice device, const VkShaderModuleCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkShaderModule* pShaderModule) { return sr_vk.vkCreateShaderModule(device, pCreateInfo, pAllocator, pShaderModule); }
static inline void sr_DestroyShaderModule(VkDevice device, VkShaderModule shaderModule, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyShaderModule(device, shaderModule, pAllocator); }
static inline VkResult sr_CreateDescriptorSetLayout(VkDevice device, const VkDescriptorSetLayoutCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkDescriptorSetLayout* pSetLayout) { return sr_vk.vkCreateDescriptorSetLayout(device, pCreateInfo, pAllocator, pSetLayout); }
static inline void sr_DestroyDescriptorSetLayout(VkDevice device, VkDescriptorSetLayout descriptorSetLayout, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyDescriptorSetLayout(device, descriptorSetLayout, pAllocator); }
static inline VkResult sr_CreatePipelineLayout(VkDevice device, const VkPipelineLayoutCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkPipelineLayout* pPipelineLayout) { return sr_vk.vkCreatePipelineLayout(device, pCreateInfo, pAllocator, pPipelineLayout); }
static inline void sr_DestroyPipelineLayout(VkDevice device, VkPipelineLayout pipelineLayout, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyPipelineLayout(device, pipelineLayout, pAllocator); }
static inline VkResult sr_CreateComputePipelines(VkDevice device, VkPipelineCache pipelineCache, uint32_t createInfoCount, const VkComputePipelineCreateInfo* pCreateInfos, const VkAllocationCallbacks* pAllocator, VkPipeline* pPipelines) { return sr_vk.vkCreateComputePipelines(device, pipelineCache, createInfoCount, pCreateInfos, pAllocator, pPipelines); }
static inline void sr_DestroyPipeline(VkDevice device, VkPipeline pipeline, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyPipeline(device, pipeline, pAllocator); }
static inline VkResult sr_CreateDescriptorPool(VkDevice device, const VkDescriptorPoolCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkDescriptorPool* pDescriptorPool) { return sr_vk.vkCreateDescriptorPool(device, pCreateInfo, pAllocator, pDescriptorPool); }
static inline void sr_DestroyDescriptorPool(VkDevice device, VkDescriptorPool descriptorPool, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyDescriptorPool(device, descriptorPool, pAllocator); }
static inline VkResult sr_AllocateDescriptorSets(VkDevice device, const VkDescriptorSetAllocateInfo* pAllocateInfo, VkDescriptorSet* pDescriptorSets) { return sr_vk.vkAllocateDescriptorSets(device, pAllocateInfo, pDescriptorSets); }
static inline void sr_UpdateDescriptorSets(VkDevice device, uint32_t descriptorWriteCount, const VkWriteDescriptorSet* pDescriptorWrites, uint32_t descriptorCopyCount, const VkCopyDescriptorSet* pDescriptorCopies) { sr_vk.vkUpdateDescriptorSets(device, descriptorWriteCount, pDescriptorWrites, descriptorCopyCount, pDescriptorCopies); }
static inline VkResult sr_CreateCommandPool(VkDevice device, const VkCommandPoolCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkCommandPool* pCommandPool) { return sr_vk.vkCreateCommandPool(device, pCreateInfo, pAllocator, pCommandPool); }
static inline void sr_DestroyCommandPool(VkDevice device, VkCommandPool commandPool, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyCommandPool(device, commandPool, pAllocator); }
static inline VkResult sr_AllocateCommandBuffers(VkDevice device, const VkCommandBufferAllocateInfo* pAllocateInfo, VkCommandBuffer* pCommandBuffers) { return sr_vk.vkAllocateCommandBuffers(device, pAllocateInfo, pCommandBuffers); }
static inline VkResult sr_BeginCommandBuffer(VkCommandBuffer commandBuffer, const VkCommandBufferBeginInfo* pBeginInfo) { return sr_vk.vkBeginCommandBuffer(commandBuffer, pBeginInfo); }
static inline VkResult sr_EndCommandBuffer(VkCommandBuffer commandBuffer) { return sr_vk.vkEndCommandBuffer(commandBuffer); }
static inline VkResult sr_ResetCommandBuffer(VkCommandBuffer commandBuffer, VkCommandBufferResetFlags flags) { return sr_vk.vkResetCommandBuffer(commandBuffer, flags); }
static inline void sr_CmdBindPipeline(VkCommandBuffer commandBuffer, VkPipelineBindPoint pipelineBindPoint, VkPipeline pipeline) { sr_vk.vkCmdBindPipeline(commandBuffer, pipelineBindPoint, pipeline); }
static inline void sr_CmdBindDescriptorSets(VkCommandBuffer commandBuffer, VkPipelineBindPoint pipelineBindPoint, VkPipelineLayout layout, uint32_t firstSet, uint32_t descriptorSetCount, const VkDescriptorSet* pDescriptorSets, uint32_t dynamicOffsetCount, const uint32_t* pDynamicOffsets) { sr_vk.vkCmdBindDescriptorSets(commandBuffer, pipelineBindPoint, layout, firstSet, descriptorSetCount, pDescriptorSets, dynamicOffsetCount, pDynamicOffsets); }
static inline void sr_CmdPushConstants(VkCommandBuffer commandBuffer, VkPipelineLayout layout, VkShaderStageFlags stageFlags, uint32_t offset, uint32_t size, const void* pValues) { sr_vk.vkCmdPushConstants(commandBuffer, layout, stageFlags, offset, size, pValues); }
static inline void sr_CmdDispatch(VkCommandBuffer commandBuffer, uint32_t groupCountX, uint32_t groupCountY, uint32_t groupCountZ) { sr_vk.vkCmdDispatch(commandBuffer, groupCountX, groupCountY, groupCountZ); }
static inline void sr_CmdPipelineBarrier(VkCommandBuffer commandBuffer, VkPipelineStageFlags srcStageMask, VkPipelineStageFlags dstStageMask, VkDependencyFlags dependencyFlags, uint32_t memoryBarrierCount, const VkMemoryBarrier* pMemoryBarriers, uint32_t bufferMemoryBarrierCount, const VkBufferMemoryBarrier* pBufferMemoryBarriers, uint32_t imageMemoryBarrierCount, const VkImageMemoryBarrier* pImageMemoryBarriers) { sr_vk.vkCmdPipelineBarrier(commandBuffer, srcStageMask, dstStageMask, dependencyFlags, memoryBarrierCount, pMemoryBarriers, bufferMemoryBarrierCount, pBufferMemoryBarriers, imageMemoryBarrierCount, pImageMemoryBarriers); }
static inline void sr_CmdCopyBuffer(VkCommandBuffer commandBuffer, VkBuffer srcBuffer, VkBuffer dstBuffer, uint32_t regionCount, const VkBufferCopy* pRegions) { sr_vk.vkCmdCopyBuffer(commandBuffer, srcBuffer, dstBuffer, regionCount, pRegions); }
static inline void sr_CmdWriteTimestamp(VkCommandBuffer commandBuffer, VkPipelineStageFlagBits pipelineStage, VkQueryPool queryPool, uint32_t query) { sr_vk.vkCmdWriteTimestamp(commandBuffer, pipelineStage, queryPool, query); }
static inline void sr_CmdResetQueryPool(VkCommandBuffer commandBuffer, VkQueryPool queryPool, uint32_t firstQuery, uint32_t queryCount) { sr_vk.vkCmdResetQueryPool(commandBuffer, queryPool, firstQuery, queryCount); }
static inline VkResult sr_QueueSubmit(VkQueue queue, uint32_t submitCount, const VkSubmitInfo* pSubmits, VkFence fence) { return sr_vk.vkQueueSubmit(queue, submitCount, pSubmits, fence); }
static inline VkResult sr_CreateFence(VkDevice device, const VkFenceCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkFence* pFence) { return sr_vk.vkCreateFence(device, pCreateInfo, pAllocator, pFence); }
static inline void sr_DestroyFence(VkDevice device, VkFence fence, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyFence(device, fence, pAllocator); }
static inline VkResult sr_WaitForFences(VkDevice device, uint32_t fenceCount, const VkFence* pFences, VkBool32 waitAll, uint64_t timeout) { return sr_vk.vkWaitForFences(device, fenceCount, pFences, waitAll, timeout); }
static inline VkResult sr_ResetFences(VkDevice device, uint32_t fenceCount, const VkFence* pFences) { return sr_vk.vkResetFences(device, fenceCount, pFences); }
static inline VkResult sr_CreateQueryPool(VkDevice device, const VkQueryPoolCreateInfo* pCreateInfo, const VkAllocationCallbacks* pAllocator, VkQueryPool* pQueryPool) { return sr_vk.vkCreateQueryPool(device, pCreateInfo, pAllocator, pQueryPool); }
static inline void sr_DestroyQueryPool(VkDevice device, VkQueryPool queryPool, const VkAllocationCallbacks* pAllocator) { sr_vk.vkDestroyQueryPool(device, queryPool, pAllocator); }
static inline VkResult sr_GetQueryPoolResults(VkDevice device, VkQueryPool queryPool, uint32_t firstQuery, uint32_t queryCount, size_t dataSize, void* pData, VkDeviceSize stride, VkQueryResultFlags flags) { return sr_vk.vkGetQueryPoolResults(device, queryPool, firstQuery, queryCount, dataSize, pData, stride, flags); }

// sr_caps is the flat result of one capability query (sr_query_caps), copied out of the
// Properties2/Features2 pNext chains so that Go never sees a C pointer chain.
typedef struct {
	VkPhysicalDeviceProperties props;
	uint32_t subgroupSize;
	VkShaderStageFlags subgroupStages;
	VkSubgroupFeatureFlags subgroupOps;
	VkDriverId driverID;
	char driverName[VK_MAX_DRIVER_NAME_SIZE];
	char driverInfo[VK_MAX_DRIVER_INFO_SIZE];
	VkBool32 shaderFloat16;
	VkBool32 shaderInt8;
	VkBool32 storageBuffer16BitAccess;
	VkBool32 storageBuffer8BitAccess;
} sr_caps;

// sr_enable lists the optional features to turn on at device creation.
typedef struct {
	VkBool32 shaderFloat16;
	VkBool32 shaderInt8;
	VkBool32 storageBuffer16BitAccess;
	VkBool32 storageBuffer8BitAccess;
} sr_enable;

int sr_load(void);
void sr_load_instance(VkInstance inst);
void sr_query_caps(VkPhysicalDevice pd, uint32_t apiVersion, sr_caps* out);
VkResult sr_create_device(VkPhysicalDevice pd, uint32_t family, const sr_enable* en,
	const char* const* exts, uint32_t nexts, VkDevice* out);
VkResult sr_create_messenger(VkInstance inst, uintptr_t handle, VkDebugUtilsMessengerEXT* out);
void sr_destroy_messenger(VkInstance inst, VkDebugUtilsMessengerEXT m);

#endif
