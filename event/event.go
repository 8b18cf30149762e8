// Package event is the case-event contract of SPEC section 3: the Event type,
// its enums, validation, the NDJSON / JSON-array request decoder and the
// compact binary form the collector spools.
package event

import (
	"fmt"
	"time"
)

// Kind is the kind of case an event belongs to.
type Kind uint8

// Kinds, in SPEC order. The zero value is invalid on purpose.
const (
	KindService  Kind = iota + 1 // 办件
	KindInternal                 // 机关内部事项
	KindScenario                 // 场景事件
	KindTicket                   // 12345 诉求
	KindTask                     // 改革任务
)

var kindNames = [...]string{"", "service", "internal", "scenario", "ticket", "task"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Kinds lists every valid kind.
func Kinds() []Kind { return []Kind{KindService, KindInternal, KindScenario, KindTicket, KindTask} }

// Type is the lifecycle event type.
type Type uint8

// Types, in SPEC order. The zero value is invalid on purpose.
const (
	TypeSubmitted Type = iota + 1
	TypeAccepted
	TypeRejected
	TypeStepStarted
	TypeStepFinished
	TypeSuspended
	TypeResumed
	TypeVisit
	TypeCompleted
	TypeRated
	TypeRectified
	TypeReminded
	TypeResponded
	TypeSigned
	TypeFeedback
	TypeMilestoneDue
	TypeMilestoneMet
	TypeWithdrawn
)

var typeNames = [...]string{"", "submitted", "accepted", "rejected", "step_started", "step_finished",
	"suspended", "resumed", "visit", "completed", "rated", "rectified", "reminded", "responded",
	"signed", "feedback", "milestone_due", "milestone_met", "withdrawn"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", t)
}

// Channel is how an application was submitted; ChannelNone when absent.
type Channel uint8

// Channels. ChannelNone means the field was absent.
const (
	ChannelNone Channel = iota
	ChannelWindow
	ChannelOnline
	ChannelMobile
	ChannelSelfService
)

var channelNames = [...]string{"", "window", "online", "mobile", "self_service"}

func (c Channel) String() string {
	if int(c) < len(channelNames) {
		return channelNames[c]
	}
	return fmt.Sprintf("channel(%d)", c)
}

// StepType is the kind of a handling step; StepTypeNone when absent.
type StepType uint8

// Step types. StepTypeNone means the field was absent.
const (
	StepTypeNone StepType = iota
	StepHandle
	StepConsult     // 征求意见
	StepCountersign // 会签
	StepApprove
)

var stepTypeNames = [...]string{"", "handle", "consult", "countersign", "approve"}

func (s StepType) String() string {
	if int(s) < len(stepTypeNames) {
		return stepTypeNames[s]
	}
	return fmt.Sprintf("step_type(%d)", s)
}

// Absent is the value of an optional integer field that was not given.
// Sentinels instead of pointers keep the event flat, cheap to copy and
// identical to the ClickHouse columns (which use the same -1).
const Absent = -1

// Resolved values of Event.Resolved.
const (
	ResolvedAbsent int8 = -1
	ResolvedFalse  int8 = 0
	ResolvedTrue   int8 = 1
)

// Event is one validated case lifecycle event.
type Event struct {
	ID              string
	Kind            Kind
	CaseID          string
	Type            Type
	At              time.Time // with the sender's offset; stored to the second
	Department      string
	Region          string
	Matter          string
	MatterName      string
	Channel         Channel
	LegalDays       int32 // Absent when not given
	PromisedDays    int32 // Absent when not given
	MaterialsTotal  int32 // Absent when not given
	MaterialsShared int32 // Absent when not given
	Step            string
	StepType        StepType
	LimitDays       int32 // Absent when not given
	JointID         string
	Rating          int8      // 0 when not given, else 1..5
	Resolved        int8      // ResolvedAbsent, ResolvedFalse or ResolvedTrue
	Due             time.Time // calendar date (UTC midnight); zero when not given
	Responsible     string
}

// NewEvent returns an event with every optional integer marked absent.
func NewEvent() Event {
	return Event{
		LegalDays: Absent, PromisedDays: Absent, MaterialsTotal: Absent,
		MaterialsShared: Absent, LimitDays: Absent, Resolved: ResolvedAbsent,
	}
}

// Limits of the string fields, in characters (SPEC section 3).
const (
	MaxIDLen         = 128
	MaxCodeLen       = 64
	MaxNameLen       = 256
	MaxDays          = 3650 // ten years of working days: anything above is a unit mistake
	MaxMaterials     = 10000
	DateLayout       = "2006-01-02"
	DefaultMaxFuture = 24 * time.Hour
)
