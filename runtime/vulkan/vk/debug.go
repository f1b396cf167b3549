//go:build cgo

package vk

/*
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
)

// Message severities passed to a MessageFunc (VkDebugUtilsMessageSeverityFlagBitsEXT).
const (
	SeverityWarning = C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
	SeverityError   = C.VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT
)

// DebugUtilsExtension is the instance extension a Messenger needs.
const DebugUtilsExtension = "VK_EXT_debug_utils"

// MessageFunc receives one validation or loader message: its severity, its VUID or message id
// name, and its text. It is called on whatever thread the driver reports from.
type MessageFunc func(severity int, id, text string)

// Messenger is a VkDebugUtilsMessengerEXT together with the handle that routes its messages to a
// Go function.
type Messenger struct {
	inst   C.VkInstance
	h      C.VkDebugUtilsMessengerEXT
	handle cgo.Handle
}

// CreateMessenger routes the instance's warnings and errors to f. The instance must have been
// created with DebugUtilsExtension.
func (i Instance) CreateMessenger(f MessageFunc) (*Messenger, error) {
	h := cgo.NewHandle(f)
	var m C.VkDebugUtilsMessengerEXT
	if err := check(C.sr_create_messenger(i.h, C.uintptr_t(h), &m), "vkCreateDebugUtilsMessengerEXT"); err != nil {
		h.Delete()
		return nil, err
	}
	return &Messenger{inst: i.h, h: m, handle: h}, nil
}

// Destroy unregisters the messenger.
func (m *Messenger) Destroy() {
	C.sr_destroy_messenger(m.inst, m.h)
	m.handle.Delete()
}

// srGoDebugMessage is called by the C callback in shim.c for every message.
//
//export srGoDebugMessage
func srGoDebugMessage(handle C.uintptr_t, severity C.int, id, msg *C.char) {
	f := cgo.Handle(handle).Value().(MessageFunc)
	f(int(severity), C.GoString(id), C.GoString(msg))
}
